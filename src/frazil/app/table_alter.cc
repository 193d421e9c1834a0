// Schema and partition evolution (AlterTable) and rollback.
#include <algorithm>
#include <cctype>

#include "frazil/app/table_ops.h"
#include "frazil/base/strings.h"
#include "frazil/iceberg/table_update.h"

namespace frazil::app {
namespace {

using iceberg::NestedField;
using iceberg::Schema;

// Finds a top-level field by case-insensitive name.
std::vector<NestedField>::iterator FindTop(std::vector<NestedField>& fields, const std::string& name) {
  return std::find_if(fields.begin(), fields.end(), [&](const NestedField& f) { return AsciiLower(f.name) == AsciiLower(name); });
}

Error Bad(const catalog::TableIdentifier& id, const std::string& msg) {
  return Error{ErrorKind::kInvalidArgument, "alter " + id.ToString() + ": " + msg};
}

// Gives fresh ids (from *next) to the nested fields inside a type parsed without ids.
iceberg::TypePtr AssignIds(const iceberg::TypePtr& t, int* next) {
  if (t->is_primitive()) return t;
  auto copy = std::make_shared<iceberg::Type>(*t);
  for (auto& f : copy->fields) {
    f.id = ++*next;
  }
  for (auto& f : copy->fields) f.type = AssignIds(f.type, next);
  return copy;
}

}  // namespace

Result<iceberg::PartitionField> ParsePartitionField(const Schema& schema, std::string_view text, int field_id) {
  std::string s(text);
  s.erase(std::remove_if(s.begin(), s.end(), [](unsigned char c) { return std::isspace(c); }), s.end());
  std::string transform = "identity", column = s;
  int param = -1;
  auto open = s.find('(');
  if (open != std::string::npos) {
    if (s.back() != ')') return MakeError(ErrorKind::kInvalidArgument, "partition field '" + std::string(text) + "': missing ')'");
    transform = AsciiLower(s.substr(0, open));
    std::string args = s.substr(open + 1, s.size() - open - 2);
    auto comma = args.find(',');
    if (comma != std::string::npos) {
      // bucket(16, id) / truncate(4, name), also accept (id, 16)
      std::string a = args.substr(0, comma), b = args.substr(comma + 1);
      auto is_num = [](const std::string& x) {
        return !x.empty() && x.size() <= 9 && std::all_of(x.begin(), x.end(), ::isdigit);
      };
      if (!is_num(a) && !is_num(b)) {
        return MakeError(ErrorKind::kInvalidArgument, "partition field '" + std::string(text) + "': " + transform +
                                                          " needs a positive whole number below 1000000000, e.g. " + transform + "(16, col)");
      }
      param = std::stoi(is_num(a) ? a : b);
      column = is_num(a) ? b : a;
    } else {
      column = args;
    }
  }
  const NestedField* f = schema.FindField(column);
  if (f == nullptr) {
    for (const auto& top : schema.fields()) {
      if (AsciiLower(top.name) == AsciiLower(column)) f = &top;
    }
  }
  if (f == nullptr) return MakeError(ErrorKind::kInvalidArgument, "partition field '" + std::string(text) + "': no column '" + column + "'");
  std::string ttext = transform;
  if (transform == "bucket" || transform == "truncate") {
    if (param <= 0) return MakeError(ErrorKind::kInvalidArgument, "partition field '" + std::string(text) + "': " + transform + " needs a positive width, e.g. " + transform + "(16, " + column + ")");
    ttext += "[" + std::to_string(param) + "]";
  } else if (transform == "years") {
    ttext = "year";
  } else if (transform == "months") {
    ttext = "month";
  } else if (transform == "days") {
    ttext = "day";
  } else if (transform == "hours") {
    ttext = "hour";
  }
  if (ttext == "void") {
    return MakeError(ErrorKind::kInvalidArgument, "partition field '" + std::string(text) +
                                                      "': void only marks a dropped partition field; use drop-partition-field");
  }
  auto parsed = iceberg::ParseTransform(ttext);
  if (!parsed) {
    return MakeError(ErrorKind::kInvalidArgument, "partition field '" + std::string(text) + "': unknown transform '" + transform +
                                                      "' (identity, bucket(N, col), truncate(W, col), year, month, day, hour)");
  }
  iceberg::Transform t = *parsed;
  if (!t.CanTransform(*f->type)) {
    return MakeError(ErrorKind::kInvalidArgument, "partition field '" + std::string(text) + "': transform " + t.ToString() +
                                                      " cannot apply to " + f->type->ToString() + " column " + f->name);
  }
  iceberg::PartitionField pf;
  pf.source_id = f->id;
  pf.field_id = field_id;
  pf.transform = t;
  switch (t.kind) {
    case iceberg::TransformKind::kIdentity: pf.name = f->name; break;
    case iceberg::TransformKind::kBucket: pf.name = f->name + "_bucket"; break;
    case iceberg::TransformKind::kTruncate: pf.name = f->name + "_trunc"; break;
    case iceberg::TransformKind::kYear: pf.name = f->name + "_year"; break;
    case iceberg::TransformKind::kMonth: pf.name = f->name + "_month"; break;
    case iceberg::TransformKind::kDay: pf.name = f->name + "_day"; break;
    case iceberg::TransformKind::kHour: pf.name = f->name + "_hour"; break;
    case iceberg::TransformKind::kVoid: pf.name = f->name + "_null"; break;
  }
  return pf;
}

Result<catalog::LoadedTable> AlterTable(Warehouse& w, const catalog::TableIdentifier& id,
                                        const std::vector<std::string>& change) {
  if (change.empty()) return std::unexpected(Bad(id, "no change given"));
  const std::string op = change[0];
  auto need = [&](size_t n, const char* usage) -> Status {
    if (change.size() != n) return std::unexpected(Bad(id, std::string("usage: ") + usage));
    return Ok();
  };
  for (int attempt = 0;; ++attempt) {
    FRZ_ASSIGN_OR_RETURN(auto table, w.catalog().LoadTable(id));
    const auto& md = table.metadata;
    const Schema* current = md.current_schema();
    if (current == nullptr) return MakeError(ErrorKind::kCorrupt, id.ToString() + " has no current schema");
    std::vector<NestedField> fields = current->fields();
    std::vector<int> identifiers = current->identifier_field_ids();
    std::vector<iceberg::TableRequirement> reqs{iceberg::req::AssertTableUuid{md.table_uuid},
                                                iceberg::req::AssertCurrentSchemaId{md.current_schema_id}};
    std::vector<iceberg::TableUpdate> updates;
    bool schema_change = true;
    int last_id = md.last_column_id;

    if (op == "add-column") {
      FRZ_RETURN_IF_ERROR(need(3, "add-column <name> <type>"));
      if (FindTop(fields, change[1]) != fields.end()) return std::unexpected(Bad(id, "column '" + change[1] + "' already exists"));
      auto type = iceberg::ParsePrimitiveType(AsciiLower(change[2]));
      if (!type) return std::unexpected(Bad(id, "unknown type '" + change[2] + "' (use an Iceberg type: int, long, string, decimal(10,2), timestamptz, ...)"));
      NestedField f;
      f.id = ++last_id;
      f.name = AsciiLower(change[1]);
      f.required = false;
      f.type = AssignIds(*type, &last_id);
      fields.push_back(std::move(f));
    } else if (op == "drop-column") {
      FRZ_RETURN_IF_ERROR(need(2, "drop-column <name>"));
      auto it = FindTop(fields, change[1]);
      if (it == fields.end()) return std::unexpected(Bad(id, "no column '" + change[1] + "'"));
      if (std::find(identifiers.begin(), identifiers.end(), it->id) != identifiers.end()) {
        return std::unexpected(Bad(id, "column '" + change[1] + "' is an identifier field and cannot be dropped"));
      }
      if (const auto* spec = md.default_spec()) {
        for (const auto& pf : spec->fields) {
          if (pf.source_id == it->id && pf.transform.kind != iceberg::TransformKind::kVoid) {
            return std::unexpected(Bad(id, "column '" + change[1] + "' is used by partition field '" + pf.name + "'; drop the partition field first"));
          }
        }
      }
      fields.erase(it);
    } else if (op == "rename-column") {
      FRZ_RETURN_IF_ERROR(need(3, "rename-column <old> <new>"));
      auto it = FindTop(fields, change[1]);
      if (it == fields.end()) return std::unexpected(Bad(id, "no column '" + change[1] + "'"));
      if (FindTop(fields, change[2]) != fields.end()) return std::unexpected(Bad(id, "column '" + change[2] + "' already exists"));
      it->name = AsciiLower(change[2]);
    } else if (op == "update-column") {
      FRZ_RETURN_IF_ERROR(need(3, "update-column <name> <type>"));
      auto it = FindTop(fields, change[1]);
      if (it == fields.end()) return std::unexpected(Bad(id, "no column '" + change[1] + "'"));
      auto type = iceberg::ParsePrimitiveType(AsciiLower(change[2]));
      if (!type) return std::unexpected(Bad(id, "unknown type '" + change[2] + "'"));
      if (!iceberg::IsPromotionAllowed(*it->type, **type)) {
        return std::unexpected(Bad(id, "cannot change column '" + it->name + "' from " + it->type->ToString() + " to " +
                                           (*type)->ToString() + " (allowed: int->long, float->double, decimal(P,S)->decimal(P',S) with P'>=P)"));
      }
      it->type = *type;
    } else if (op == "move-column") {
      if (change.size() != 3 && change.size() != 4) return std::unexpected(Bad(id, "usage: move-column <name> first | after <other> | before <other>"));
      auto it = FindTop(fields, change[1]);
      if (it == fields.end()) return std::unexpected(Bad(id, "no column '" + change[1] + "'"));
      NestedField moved = *it;
      fields.erase(it);
      if (change[2] == "first" && change.size() == 3) {
        fields.insert(fields.begin(), moved);
      } else if ((change[2] == "after" || change[2] == "before") && change.size() == 4) {
        auto other = FindTop(fields, change[3]);
        if (other == fields.end()) return std::unexpected(Bad(id, "no column '" + change[3] + "'"));
        fields.insert(change[2] == "after" ? other + 1 : other, moved);
      } else {
        return std::unexpected(Bad(id, "usage: move-column <name> first | after <other> | before <other>"));
      }
    } else if (op == "set-required" || op == "set-optional") {
      FRZ_RETURN_IF_ERROR(need(2, "set-optional <name>"));
      auto it = FindTop(fields, change[1]);
      if (it == fields.end()) return std::unexpected(Bad(id, "no column '" + change[1] + "'"));
      if (op == "set-required") return std::unexpected(Bad(id, "making a column required is not allowed: existing rows may hold nulls"));
      it->required = false;
    } else if (op == "add-partition-field" || op == "drop-partition-field") {
      FRZ_RETURN_IF_ERROR(need(2, op == "add-partition-field" ? "add-partition-field <transform>(<column>)" : "drop-partition-field <name>"));
      schema_change = false;
      const iceberg::PartitionSpec* spec = md.default_spec();
      iceberg::PartitionSpec next = spec ? *spec : iceberg::PartitionSpec{};
      if (op == "add-partition-field") {
        FRZ_ASSIGN_OR_RETURN(auto pf, ParsePartitionField(*current, change[1], md.last_partition_id + 1));
        for (const auto& existing : next.fields) {
          if (existing.source_id == pf.source_id && existing.transform == pf.transform) {
            return std::unexpected(Bad(id, "partition field " + change[1] + " already exists as '" + existing.name + "'"));
          }
          if (existing.name == pf.name) return std::unexpected(Bad(id, "partition field name '" + pf.name + "' already exists"));
        }
        next.fields.push_back(pf);
      } else {
        auto it = std::find_if(next.fields.begin(), next.fields.end(), [&](const auto& pf) { return pf.name == change[1]; });
        if (it == next.fields.end()) return std::unexpected(Bad(id, "no partition field '" + change[1] + "'"));
        next.fields.erase(it);
      }
      int max_spec = 0;
      for (const auto& s : md.partition_specs) max_spec = std::max(max_spec, s.spec_id);
      next.spec_id = max_spec + 1;
      reqs.push_back(iceberg::req::AssertLastAssignedPartitionId{md.last_partition_id});
      reqs.push_back(iceberg::req::AssertDefaultSpecId{md.default_spec_id});
      updates.push_back(iceberg::upd::AddSpec{next});
      updates.push_back(iceberg::upd::SetDefaultSpec{-1});
    } else {
      return std::unexpected(Bad(id, "unknown change '" + op + "' (add-column, drop-column, rename-column, update-column, move-column, set-optional, add-partition-field, drop-partition-field)"));
    }

    if (schema_change) {
      int max_schema = 0;
      for (const auto& s : md.schemas) max_schema = std::max(max_schema, s.schema_id());
      Schema next(max_schema + 1, fields, identifiers);
      FRZ_RETURN_IF_ERROR(next.Validate());
      reqs.push_back(iceberg::req::AssertLastAssignedFieldId{md.last_column_id});
      updates.push_back(iceberg::upd::AddSchema{next, last_id});
      updates.push_back(iceberg::upd::SetCurrentSchema{-1});
    }
    auto committed = w.catalog().CommitTable(id, reqs, updates);
    if (committed || committed.error().kind != ErrorKind::kCommitFailed || attempt >= 5) return committed;
  }
}

Result<catalog::LoadedTable> Rollback(Warehouse& w, const catalog::TableIdentifier& id, int64_t snapshot_id) {
  FRZ_ASSIGN_OR_RETURN(auto table, w.catalog().LoadTable(id));
  const auto& md = table.metadata;
  if (md.snapshot_by_id(snapshot_id) == nullptr) {
    return MakeError(ErrorKind::kNotFound, id.ToString() + " has no snapshot " + std::to_string(snapshot_id) + " (see `frazil table snapshots " + id.ToString() + "`)");
  }
  iceberg::SnapshotRef ref;
  if (auto it = md.refs.find(iceberg::kMainBranch); it != md.refs.end()) ref = it->second;
  ref.snapshot_id = snapshot_id;
  ref.is_branch = true;
  std::optional<int64_t> current = md.current_snapshot_id;
  return w.catalog().CommitTable(
      id, {iceberg::req::AssertTableUuid{md.table_uuid}, iceberg::req::AssertRefSnapshotId{iceberg::kMainBranch, current}},
      {iceberg::upd::SetSnapshotRef{iceberg::kMainBranch, ref}});
}

Result<catalog::LoadedTable> SetRef(Warehouse& w, const catalog::TableIdentifier& id, const std::string& name,
                                    std::optional<int64_t> snapshot_id, bool is_branch) {
  if (name.empty() || name.find_first_of(" \t\n/") != std::string::npos) {
    return MakeError(ErrorKind::kInvalidArgument, "invalid branch or tag name '" + name + "'");
  }
  if (name == iceberg::kMainBranch && !is_branch) {
    return MakeError(ErrorKind::kInvalidArgument, "'main' is the table's main branch and cannot be a tag");
  }
  FRZ_ASSIGN_OR_RETURN(auto table, w.catalog().LoadTable(id));
  const auto& md = table.metadata;
  int64_t target = 0;
  if (snapshot_id) {
    if (md.snapshot_by_id(*snapshot_id) == nullptr) {
      return MakeError(ErrorKind::kNotFound, id.ToString() + " has no snapshot " + std::to_string(*snapshot_id));
    }
    target = *snapshot_id;
  } else if (md.current_snapshot_id) {
    target = *md.current_snapshot_id;
  } else {
    return MakeError(ErrorKind::kNotFound, id.ToString() + " has no snapshot yet to point '" + name + "' at");
  }
  std::optional<int64_t> current;
  iceberg::SnapshotRef ref;
  if (auto it = md.refs.find(name); it != md.refs.end()) {
    current = it->second.snapshot_id;
    ref = it->second;
    if (ref.is_branch != is_branch) {
      return MakeError(ErrorKind::kInvalidArgument, "'" + name + "' already exists as a " + (ref.is_branch ? "branch" : "tag"));
    }
  }
  ref.snapshot_id = target;
  ref.is_branch = is_branch;
  return w.catalog().CommitTable(
      id, {iceberg::req::AssertTableUuid{md.table_uuid}, iceberg::req::AssertRefSnapshotId{name, current}},
      {iceberg::upd::SetSnapshotRef{name, ref}});
}

Result<catalog::LoadedTable> RemoveRef(Warehouse& w, const catalog::TableIdentifier& id, const std::string& name) {
  if (name == iceberg::kMainBranch) return MakeError(ErrorKind::kInvalidArgument, "the main branch cannot be removed");
  FRZ_ASSIGN_OR_RETURN(auto table, w.catalog().LoadTable(id));
  auto it = table.metadata.refs.find(name);
  if (it == table.metadata.refs.end()) return MakeError(ErrorKind::kNotFound, id.ToString() + " has no branch or tag '" + name + "'");
  return w.catalog().CommitTable(id,
                                 {iceberg::req::AssertTableUuid{table.metadata.table_uuid},
                                  iceberg::req::AssertRefSnapshotId{name, it->second.snapshot_id}},
                                 {iceberg::upd::RemoveSnapshotRef{name}});
}

}  // namespace frazil::app
