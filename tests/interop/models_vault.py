"""An independent Data Vault for test_models.py's bank test: what docs/data-vault.md says each
hub, link, satellite and effectivity model of examples/bank/models/data_vault/bank.yml must
hold, computed in Python (hashlib) from the raw changelog rows (read with PyIceberg), never
with frazil's SQL. And the seeded random bank workload the test runs on top of
examples/bank's own scripts.

Values are the plain forms of models_support.columns_as_lists(): uuids as lower-case text,
dates as days since 1970-01-01, timestamptz as UTC microseconds, decimals as Decimal."""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import hashlib
import json
import random
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

D = decimal.Decimal
EPOCH_DATE = dt.date(1970, 1, 1)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)

# The bank's source tables: column -> kind (for the canonical text of docs/data-vault.md).
BANK_COLUMNS = {
    "users": {"id": "uuid", "email": "str", "name": "str", "created_at": "date"},
    "accounts": {"id": "uuid", "user_id": "uuid", "currency": "str", "balance": "dec", "created_at": "date"},
    "transfers": {"id": "int", "from_account": "uuid", "to_account": "uuid", "amount": "dec", "booked_at": "tstz", "note": "str"},
}
RAW_META = ["_op", "_lsn", "_commit_lsn", "_seq", "_commit_ts"]


# ---------------------------------------------------------------------------------------
# Canonical text and hashes (docs/data-vault.md, "Hashing")
# ---------------------------------------------------------------------------------------


def canonical(value: Any, kind: str) -> str | None:
    """DuckDB's CAST(<typed value> AS VARCHAR) as the doc defines it (UTC session)."""
    if value is None:
        return None
    if kind == "uuid":
        return str(uuid.UUID(str(value)))
    if kind == "int":
        return str(int(value))
    if kind == "dec":
        return format(value, "f")  # exactly the column's scale: Decimal keeps it
    if kind == "date":
        return (EPOCH_DATE + dt.timedelta(days=value)).isoformat()
    if kind == "tstz":
        t = EPOCH + dt.timedelta(microseconds=value)
        text = t.strftime("%Y-%m-%d %H:%M:%S")
        if t.microsecond:
            text += "." + f"{t.microsecond:06d}".rstrip("0")
        return text + "+00"
    if kind == "bool":
        return "true" if value else "false"
    if kind == "str":
        return value
    raise AssertionError(f"no canonical text for kind {kind}")


def md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def normalise(text: str | None) -> str | None:
    """settings.normalize {trim: true, upper: true}: upper(trim(x)); trim removes spaces."""
    return None if text is None else text.strip(" ").upper()


def hash_key(parts: list[str | None], delimiter: str = "||", null: str = "") -> str | None:
    """A hub's hash key from its business keys' canonical texts: one part md5(upper(trim(x))),
    several parts joined by the delimiter with NULL as the placeholder; None when every part
    is NULL (the row has no key)."""
    norm = [normalise(p) for p in parts]
    if all(p is None for p in norm):
        return None
    if len(norm) == 1:
        return md5(norm[0])
    return md5(delimiter.join(null if p is None else p for p in norm))


def link_key(parts: list[str | None], delimiter: str = "||", null: str = "") -> str:
    return md5(delimiter.join(null if p is None else p for p in (normalise(x) for x in parts)))


def hashdiff(payload_texts: list[str | None], deleted: bool) -> str:
    """md5(to_json([CAST(p AS VARCHAR), ..., CAST(__deleted_flag AS VARCHAR)])): compact JSON,
    UTF-8 unescaped, NULL as null."""
    return md5(json.dumps(list(payload_texts) + ["true" if deleted else "false"], separators=(",", ":"), ensure_ascii=False))


# ---------------------------------------------------------------------------------------
# The parsed layer (examples/bank/models/README.md): one row per non-truncate change
# ---------------------------------------------------------------------------------------


def parsed(raw_rows: list[dict], table: str) -> list[dict]:
    out = []
    for r in raw_rows:
        if r["_op"] == "t":
            continue
        p = {c: r[c] for c in BANK_COLUMNS[table]}
        p.update(__deleted_flag=r["_op"] == "d", __valid_from_dttm=r["_commit_ts"], __source_lsn=r["_lsn"],
                 __source_op=r["_op"], __source_details=f"bank.public.{table}", _round=r.get("_round"))
        out.append(p)
    return out


# ---------------------------------------------------------------------------------------
# Hubs, links, satellites, effectivity (docs/data-vault.md, "What each entity becomes")
# ---------------------------------------------------------------------------------------


@dataclass
class HubSource:
    rows: list[dict]
    table: str               # the source table (for the kinds of its columns)
    columns: list[str]       # in business-key order
    record_source: str


def hub(hash_col: str, key_cols: list[str], sources: list[HubSource]) -> dict[str, dict]:
    """Per hash key, the first sighting over every source (least __load_dttm, then LSN, then
    the source listed first) and the greatest LSN any source showed."""
    best: dict[str, tuple] = {}
    last: dict[str, int] = {}
    first_round: dict[str, int] = {}
    for order, src in enumerate(sources):
        kinds = BANK_COLUMNS[src.table]
        for r in src.rows:
            texts = [canonical(r[c], kinds[c]) for c in src.columns]
            hk = hash_key(texts)
            if hk is None:
                continue
            cand = (r["__valid_from_dttm"], r["__source_lsn"], order)
            if hk not in best or cand < best[hk][0]:
                best[hk] = (cand, {k: r[c] for k, c in zip(key_cols, src.columns)}, src.record_source, r["__source_details"])
            last[hk] = max(last.get(hk, r["__source_lsn"]), r["__source_lsn"])
            if r.get("_round") is not None:
                first_round[hk] = min(first_round.get(hk, r["_round"]), r["_round"])
    out = {}
    for hk, (cand, keys, rs, details) in best.items():
        row = {hash_col: hk, **keys, "__load_dttm": cand[0], "__record_source": rs, "__record_source_details": details,
               "__record_first_source_lsn": cand[1], "__record_last_source_lsn": last[hk], "_round": first_round.get(hk)}
        out[hk] = row
    return out


@dataclass
class LinkRef:
    hash_col: str
    column: str  # the source column (each referenced hub has one business key here)


def link(hash_col: str, refs: list[LinkRef], rows: list[dict], table: str, record_source: str) -> dict[str, dict]:
    kinds = BANK_COLUMNS[table]
    best: dict[str, tuple] = {}
    last: dict[str, int] = {}
    first_round: dict[str, int] = {}
    for r in rows:
        texts = [canonical(r[ref.column], kinds[ref.column]) for ref in refs]
        if all(t is None for t in texts):
            continue
        lk = link_key(texts)
        cand = (r["__valid_from_dttm"], r["__source_lsn"])
        if lk not in best or cand < best[lk][0]:
            best[lk] = (cand, {ref.hash_col: hash_key([t]) for ref, t in zip(refs, texts)}, r["__source_details"])
        last[lk] = max(last.get(lk, r["__source_lsn"]), r["__source_lsn"])
        if r.get("_round") is not None:
            first_round[lk] = min(first_round.get(lk, r["_round"]), r["_round"])
    return {
        lk: {hash_col: lk, **hks, "__load_dttm": cand[0], "__record_source": record_source, "__record_source_details": details,
             "__record_first_source_lsn": cand[1], "__record_last_source_lsn": last[lk], "_round": first_round.get(lk)}
        for lk, (cand, hks, details) in best.items()
    }


def satellite(hash_col: str, key_cols: list[str], payload: list[str], rows: list[dict], table: str, record_source: str) -> list[dict]:
    """Per key, the changes in LSN order; a change lands when its hashdiff differs from the
    previous change's (the first always lands)."""
    kinds = BANK_COLUMNS[table]
    per_key: dict[str, list] = collections.defaultdict(list)
    for r in rows:
        hk = hash_key([canonical(r[c], kinds[c]) for c in key_cols])
        if hk is None:
            continue
        hd = hashdiff([canonical(r[p], kinds[p]) for p in payload], bool(r["__deleted_flag"]))
        per_key[hk].append((r["__source_lsn"], hd, r))
    out = []
    for hk, changes in per_key.items():
        prev = None
        for lsn, hd, r in sorted(changes, key=lambda x: (x[0], x[1])):
            if hd != prev:
                out.append({hash_col: hk, **{p: r[p] for p in payload}, "__deleted_flag": bool(r["__deleted_flag"]), "__hashdiff": hd,
                            "__valid_from_dttm": r["__valid_from_dttm"], "__record_source": record_source,
                            "__record_source_details": r["__source_details"], "__record_source_lsn": lsn, "_round": r.get("_round")})
            prev = hd
    return out


def effectivity(hash_col: str, records: list[dict]) -> list[dict]:
    """__valid_to = the next record's __valid_from_dttm of the key (None for the latest);
    __is_current = the latest record of its key and not a delete."""
    per_key: dict[str, list] = collections.defaultdict(list)
    for r in records:
        per_key[r[hash_col]].append(r)
    out = []
    for recs in per_key.values():
        recs.sort(key=lambda r: (r["__record_source_lsn"], r["__hashdiff"]))
        for i, r in enumerate(recs):
            last = i == len(recs) - 1
            out.append({**r, "__valid_to": None if last else recs[i + 1]["__valid_from_dttm"], "__is_current": last and not r["__deleted_flag"]})
    return out


def bank_vault(parsed_rows: dict[str, list[dict]]) -> dict[str, Any]:
    """Every entity of examples/bank/models/data_vault/bank.yml from the parsed rows."""
    u, a, t = parsed_rows["users"], parsed_rows["accounts"], parsed_rows["transfers"]
    v: dict[str, Any] = {}
    v["h_users"] = hub("users_hk", ["users_id"], [HubSource(u, "users", ["id"], "parsed_users"),
                                                  HubSource(a, "accounts", ["user_id"], "parsed_accounts.user_id")])
    v["h_accounts"] = hub("accounts_hk", ["accounts_id"], [HubSource(a, "accounts", ["id"], "parsed_accounts"),
                                                         HubSource(t, "transfers", ["from_account"], "parsed_transfers.from_account"),
                                                         HubSource(t, "transfers", ["to_account"], "parsed_transfers.to_account")])
    v["h_transfers"] = hub("transfers_hk", ["transfers_id"], [HubSource(t, "transfers", ["id"], "parsed_transfers")])
    v["l_users_accounts"] = link("users_accounts_hk", [LinkRef("users_hk", "user_id"), LinkRef("accounts_hk", "id")], a, "accounts", "parsed_accounts")
    v["l_transfers_accounts"] = link("transfers_accounts_hk", [LinkRef("transfers_hk", "id"), LinkRef("from_accounts_hk", "from_account"),
                                                               LinkRef("to_accounts_hk", "to_account")], t, "transfers", "parsed_transfers")
    v["s_users"] = satellite("users_hk", ["id"], ["email", "name", "created_at"], u, "users", "parsed_users")
    v["s_accounts"] = satellite("accounts_hk", ["id"], ["currency", "balance", "created_at"], a, "accounts", "parsed_accounts")
    v["s_transfers"] = satellite("transfers_hk", ["id"], ["amount", "booked_at", "note"], t, "transfers", "parsed_transfers")
    for s, hk in (("s_users", "users_hk"), ("s_accounts", "accounts_hk"), ("s_transfers", "transfers_hk")):
        v[f"{s}_eff"] = effectivity(hk, v[s])
    return v


# Columns of each entity as docs/data-vault.md lists them (without __inserted_at, checked
# apart: it is the write time).
HUB_META = ["__load_dttm", "__record_source", "__record_source_details", "__record_first_source_lsn", "__record_last_source_lsn"]
SAT_META = ["__deleted_flag", "__hashdiff", "__valid_from_dttm", "__record_source", "__record_source_details", "__record_source_lsn"]
VAULT_COLUMNS = {
    "h_users": ["users_hk", "users_id"] + HUB_META,
    "h_accounts": ["accounts_hk", "accounts_id"] + HUB_META,
    "h_transfers": ["transfers_hk", "transfers_id"] + HUB_META,
    "l_users_accounts": ["users_accounts_hk", "users_hk", "accounts_hk"] + HUB_META,
    "l_transfers_accounts": ["transfers_accounts_hk", "transfers_hk", "from_accounts_hk", "to_accounts_hk"] + HUB_META,
    "s_users": ["users_hk", "email", "name", "created_at"] + SAT_META,
    "s_accounts": ["accounts_hk", "currency", "balance", "created_at"] + SAT_META,
    "s_transfers": ["transfers_hk", "amount", "booked_at", "note"] + SAT_META,
}
for _s in ("s_users", "s_accounts", "s_transfers"):
    VAULT_COLUMNS[f"{_s}_eff"] = VAULT_COLUMNS[_s] + ["__valid_to", "__is_current"]


# ---------------------------------------------------------------------------------------
# A seeded random workload on the bank schema
# ---------------------------------------------------------------------------------------

LAST_NAMES = ["Meyer", "Smith", "Garcia", "Rossi", "Novak", "Dubois", "Jensen", "Silva", "Kowalski", "Murphy", "O'Brien", "Zoë-Ünal"]
FIRST_NAMES = ["Anna", "Ben", "Chloe", "David", "Emma", "Felix", "Grace", "Hugo", "Ines", "Jonas"]
NOTES = [None, "", "rent", "gift", 'say "thanks"', "café ☕", "  padded  ", "back\\slash"]


def q(v: Any) -> str:
    if v is None:
        return "NULL"
    if isinstance(v, (int, D)):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


@dataclass
class BankState:
    """The source tables as the workload believes them to be (reloaded from PostgreSQL before
    each segment: pgbench's workload changes them too)."""
    users: dict[str, dict] = field(default_factory=dict)
    accounts: dict[str, dict] = field(default_factory=dict)
    transfers: dict[int, dict] = field(default_factory=dict)
    closed_accounts: dict[str, dict] = field(default_factory=dict)
    deleted_users: dict[str, dict] = field(default_factory=dict)
    cancelled: dict[int, dict] = field(default_factory=dict)
    pending_undo: list[tuple[str, str]] = field(default_factory=list)  # (user id, name to restore)

    def load(self, query: Callable[[str], list[tuple]]) -> None:
        self.users = {r[0]: {"email": r[1], "name": r[2], "created_at": r[3]} for r in query("SELECT id, email, name, created_at::text FROM users")}
        self.accounts = {r[0]: {"user_id": r[1], "currency": r[2], "balance": D(r[3]), "created_at": r[4]}
                         for r in query("SELECT id, user_id, currency, balance::text, created_at::text FROM accounts")}
        self.transfers = {int(r[0]): {"from": r[1], "to": r[2], "amount": D(r[3]), "booked_at": r[4], "note": r[5]}
                          for r in query("SELECT id, from_account, to_account, amount::text, booked_at::text, note FROM transfers ORDER BY id DESC LIMIT 400")}
        self.closed_accounts = {k: v for k, v in self.closed_accounts.items() if k not in self.accounts}
        self.deleted_users = {k: v for k, v in self.deleted_users.items() if k not in self.users}
        self.cancelled = {k: v for k, v in self.cancelled.items() if k not in self.transfers}


class BankWorkload:
    """Transactions (SQL text) that change the bank in every way the Data Vault must handle,
    chosen by a seeded random generator over the current state."""

    def __init__(self, rng: random.Random, state: BankState) -> None:
        self.rng = rng
        self.s = state
        self.n_users = 0
        self.counts: collections.Counter = collections.Counter()

    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _pick(self, items):
        items = sorted(items)
        return self.rng.choice(items) if items else None

    def _accounts_of(self, uid: str) -> list[str]:
        return sorted(a for a, v in self.s.accounts.items() if v["user_id"] == uid)

    # Each op returns the statements of one transaction, or None when it does not apply.
    def transfer(self):
        src = self._pick(a for a, v in self.s.accounts.items() if v["balance"] > 0)
        if src is None:
            return None
        cur = self.s.accounts[src]["currency"]
        dst = self._pick(a for a, v in self.s.accounts.items() if v["currency"] == cur and a != src)
        if dst is None:
            return None
        amt = min(D(self.rng.randint(100, 50000)) / 100, self.s.accounts[src]["balance"])
        self.s.accounts[src]["balance"] -= amt
        self.s.accounts[dst]["balance"] += amt
        return [f"UPDATE accounts SET balance = balance - {amt} WHERE id = {q(src)}",
                f"UPDATE accounts SET balance = balance + {amt} WHERE id = {q(dst)}",
                f"INSERT INTO transfers (from_account, to_account, amount, note) VALUES ({q(src)}, {q(dst)}, {amt}, {q(self.rng.choice(NOTES))})"]

    def deposit_twice(self):
        acc = self._pick(self.s.accounts)
        if acc is None:
            return None
        a1, a2 = D(self.rng.randint(100, 9999)) / 100, D(self.rng.randint(100, 9999)) / 100
        self.s.accounts[acc]["balance"] += a1 + a2
        return [f"INSERT INTO transfers (from_account, to_account, amount, note) VALUES (NULL, {q(acc)}, {a1}, 'deposit')",
                f"UPDATE accounts SET balance = balance + {a1} WHERE id = {q(acc)}",
                f"INSERT INTO transfers (from_account, to_account, amount, note) VALUES (NULL, {q(acc)}, {a2}, 'deposit')",
                f"UPDATE accounts SET balance = balance + {a2} WHERE id = {q(acc)}"]

    def new_user(self):
        self.n_users += 1
        uid, aid = self._uuid(), self._uuid()
        name = f"{self.rng.choice(FIRST_NAMES)} {self.rng.choice(LAST_NAMES)}"
        email = f"wl.{uid[:8]}.{self.n_users}@bank.example"
        created = (dt.date(2020, 1, 1) + dt.timedelta(days=self.rng.randint(0, 1500))).isoformat()
        cur = self.rng.choice(["EUR", "USD", "GBP"])
        amt = D(self.rng.randint(1000, 100000)) / 100
        self.s.users[uid] = {"email": email, "name": name, "created_at": created}
        self.s.accounts[aid] = {"user_id": uid, "currency": cur, "balance": amt, "created_at": created}
        return [f"INSERT INTO users (id, email, name, created_at) VALUES ({q(uid)}, {q(email)}, {q(name)}, {q(created)})",
                f"INSERT INTO accounts (id, user_id, currency, balance, created_at) VALUES ({q(aid)}, {q(uid)}, {q(cur)}, {amt}, {q(created)})",
                f"INSERT INTO transfers (from_account, to_account, amount, note) VALUES (NULL, {q(aid)}, {amt}, 'opening deposit')"]

    def _set_name(self, uid: str, name: str) -> str:
        self.s.users[uid]["name"] = name
        return f"UPDATE users SET name = {q(name)} WHERE id = {q(uid)}"

    def rename(self):
        uid = self._pick(self.s.users)
        first = self.s.users[uid]["name"].split(" ")[0]
        return [self._set_name(uid, f"{first} {self.rng.choice(LAST_NAMES)}")]

    def case_or_blank_change(self):
        uid = self._pick(self.s.users)
        name = self.s.users[uid]["name"]
        new = self.rng.choice([name.upper(), name.lower(), name + " ", " " + name])
        return [self._set_name(uid, new)] if new != name else None

    def email_change(self):
        uid = self._pick(self.s.users)
        self.s.users[uid]["email"] = f"changed.{uid[:8]}.{self.rng.randint(0, 10**6)}@bank.example"
        return [f"UPDATE users SET email = {q(self.s.users[uid]['email'])} WHERE id = {q(uid)}"]

    def noop_user(self):
        uid = self._pick(self.s.users)
        return [f"UPDATE users SET name = name WHERE id = {q(uid)}"]

    def noop_account(self):
        aid = self._pick(self.s.accounts)
        return [f"UPDATE accounts SET balance = balance + 0 WHERE id = {q(aid)}"]

    def noop_transfer(self):
        tid = self._pick(self.s.transfers)
        return [f"UPDATE transfers SET note = note WHERE id = {tid}"] if tid is not None else None

    def change_and_undo_in_one_transaction(self):
        uid = self._pick(self.s.users)
        name = self.s.users[uid]["name"]
        return [self._set_name(uid, name + " (temp)"), self._set_name(uid, name)]

    def change_now_undo_later(self):
        uid = self._pick(self.s.users)
        name = self.s.users[uid]["name"]
        self.s.pending_undo.append((uid, name))
        return [self._set_name(uid, "Temporarily Renamed")]

    def undo_pending(self):
        while self.s.pending_undo:
            uid, name = self.s.pending_undo.pop(0)
            if uid in self.s.users:
                return [self._set_name(uid, name)]
        return None

    def reassign_account(self):
        aid = self._pick(self.s.accounts)
        to = self._pick(u for u in self.s.users if u != self.s.accounts[aid]["user_id"])
        self.s.accounts[aid]["user_id"] = to
        return [f"UPDATE accounts SET user_id = {q(to)} WHERE id = {q(aid)}"]

    def note_change(self):
        tid = self._pick(self.s.transfers)
        if tid is None:
            return None
        note = self.rng.choice(NOTES)
        self.s.transfers[tid]["note"] = note
        return [f"UPDATE transfers SET note = {q(note)} WHERE id = {tid}"]

    def _close(self, aid: str) -> list[str]:
        acc = self.s.accounts.pop(aid)
        self.s.closed_accounts[aid] = acc
        stmts = []
        if acc["balance"] > 0:
            stmts.append(f"INSERT INTO transfers (from_account, to_account, amount, note) VALUES ({q(aid)}, NULL, {acc['balance']}, 'closing withdrawal')")
        stmts.append(f"DELETE FROM accounts WHERE id = {q(aid)}")
        return stmts

    def close_account(self):
        aid = self._pick(a for a, v in self.s.accounts.items() if len(self._accounts_of(v["user_id"])) > 1)
        return self._close(aid) if aid else None

    def reinsert_account(self):
        aid = self._pick(a for a, v in self.s.closed_accounts.items() if v["user_id"] in self.s.users)
        if aid is None:
            return None
        acc = self.s.closed_accounts.pop(aid)
        self.s.accounts[aid] = acc
        return [f"INSERT INTO accounts (id, user_id, currency, balance, created_at) VALUES ({q(aid)}, {q(acc['user_id'])}, {q(acc['currency'])}, {acc['balance']}, {q(acc['created_at'])})"]

    def cancel_transfer(self):
        tid = self._pick(t for t, v in self.s.transfers.items() if v["from"] in self.s.accounts and v["to"] in self.s.accounts
                         and self.s.accounts[v["to"]]["balance"] >= v["amount"])
        if tid is None:
            return None
        tr = self.s.transfers.pop(tid)
        self.s.cancelled[tid] = tr
        self.s.accounts[tr["from"]]["balance"] += tr["amount"]
        self.s.accounts[tr["to"]]["balance"] -= tr["amount"]
        return [f"UPDATE accounts SET balance = balance + {tr['amount']} WHERE id = {q(tr['from'])}",
                f"UPDATE accounts SET balance = balance - {tr['amount']} WHERE id = {q(tr['to'])}",
                f"DELETE FROM transfers WHERE id = {tid}"]

    def reinsert_transfer(self):
        tid = self._pick(t for t, v in self.s.cancelled.items() if v["from"] in self.s.accounts and v["to"] in self.s.accounts
                         and self.s.accounts[v["from"]]["balance"] >= v["amount"])
        if tid is None:
            return None
        tr = self.s.cancelled.pop(tid)
        self.s.transfers[tid] = tr
        self.s.accounts[tr["from"]]["balance"] -= tr["amount"]
        self.s.accounts[tr["to"]]["balance"] += tr["amount"]
        return [f"UPDATE accounts SET balance = balance - {tr['amount']} WHERE id = {q(tr['from'])}",
                f"UPDATE accounts SET balance = balance + {tr['amount']} WHERE id = {q(tr['to'])}",
                f"INSERT INTO transfers (id, from_account, to_account, amount, booked_at, note) OVERRIDING SYSTEM VALUE "
                f"VALUES ({tid}, {q(tr['from'])}, {q(tr['to'])}, {tr['amount']}, {q(tr['booked_at'])}, {q(tr['note'])})"]

    def delete_user(self):
        uid = self._pick(u for u in self.s.users if u not in {x for x, _ in self.s.pending_undo})
        stmts = []
        for aid in self._accounts_of(uid):
            stmts += self._close(aid)
        self.s.deleted_users[uid] = self.s.users.pop(uid)
        return stmts + [f"DELETE FROM users WHERE id = {q(uid)}"]

    def reinsert_user(self):
        uid = self._pick(self.s.deleted_users)
        if uid is None:
            return None
        u = self.s.deleted_users.pop(uid)
        self.s.users[uid] = u
        stmts = [f"INSERT INTO users (id, email, name, created_at) VALUES ({q(uid)}, {q(u['email'])}, {q(u['name'])}, {q(u['created_at'])})"]
        aid = self._pick(a for a, v in self.s.closed_accounts.items() if v["user_id"] == uid)
        if aid is not None:  # and one of its accounts comes back too
            acc = self.s.closed_accounts.pop(aid)
            self.s.accounts[aid] = acc
            stmts.append(f"INSERT INTO accounts (id, user_id, currency, balance, created_at) VALUES ({q(aid)}, {q(uid)}, {q(acc['currency'])}, {acc['balance']}, {q(acc['created_at'])})")
        return stmts

    OPS = [("transfer", 22), ("deposit_twice", 3), ("new_user", 6), ("rename", 7), ("case_or_blank_change", 3), ("email_change", 2),
           ("noop_user", 5), ("noop_account", 3), ("noop_transfer", 2), ("change_and_undo_in_one_transaction", 2),
           ("change_now_undo_later", 2), ("undo_pending", 2), ("reassign_account", 3), ("note_change", 3), ("close_account", 3),
           ("reinsert_account", 3), ("cancel_transfer", 3), ("reinsert_transfer", 3), ("delete_user", 1), ("reinsert_user", 2)]

    def transactions(self, n: int, extra_ops: list[str] = ()) -> list[str]:
        names, weights = zip(*self.OPS)
        out = []
        plan = [self.rng.choices(names, weights)[0] for _ in range(n)] + list(extra_ops)
        for op in plan:
            stmts = getattr(self, op)()
            if stmts:
                self.counts[op] += 1
                out.append("BEGIN;\n" + ";\n".join(stmts) + ";\nCOMMIT;")
        return out
