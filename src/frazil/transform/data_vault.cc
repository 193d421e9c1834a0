#include "frazil/transform/data_vault.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <initializer_list>
#include <map>
#include <optional>
#include <set>
#include <string_view>

#include "frazil/transform/data_vault_internal.h"

namespace frazil::transform {
namespace {

using namespace dv;  // NOLINT: the generator's own internals

// ---------------------------------------------------------------------------------------
// Reading the spec.

class SpecReader {
 public:
  explicit SpecReader(std::string file) : file_(std::move(file)) {}

  Result<std::vector<GeneratedModel>> Run(const std::string& yaml) {
    YAML::Node loaded;
    try {
      loaded = YAML::Load(yaml);
    } catch (const YAML::Exception& e) {
      return MakeError(ErrorKind::kInvalidArgument,
                       file_ + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
    }
    const YAML::Node& doc = loaded;  // const: lookups never add keys
    if (!doc || doc.IsNull()) return std::vector<GeneratedModel>{};
    if (!doc.IsMap())
      return Fail(doc, "a Data Vault spec is a mapping with settings, hubs, links, satellites");
    FRZ_RETURN_IF_ERROR(
        CheckKeys(doc, {"version", "settings", "hubs", "links", "satellites"}, "the spec"));
    if (doc["version"]) {
      if (!doc["version"].IsScalar() || doc["version"].Scalar() != "1")
        return Fail(doc["version"], "version must be 1");
    }
    FRZ_RETURN_IF_ERROR(ReadSettings(doc["settings"]));
    FRZ_RETURN_IF_ERROR(
        ForEach(doc["hubs"], "hubs", [&](const YAML::Node& n) { return ReadHub(n); }));
    FRZ_RETURN_IF_ERROR(
        ForEach(doc["links"], "links", [&](const YAML::Node& n) { return ReadLink(n); }));
    FRZ_RETURN_IF_ERROR(ForEach(doc["satellites"], "satellites",
                                [&](const YAML::Node& n) { return ReadSatellite(n); }));
    return Generate();
  }

 private:
  // ---- small readers; every error is "<file>:<line>: <what>".

  std::string At(const YAML::Node& n) const {
    return file_ + ":" + std::to_string(n.Mark().line + 1);
  }
  std::string At(int line) const { return file_ + ":" + std::to_string(line); }
  std::unexpected<Error> Fail(const YAML::Node& n, const std::string& what) const {
    return MakeError(ErrorKind::kInvalidArgument, At(n) + ": " + what);
  }
  std::unexpected<Error> Fail(int line, const std::string& what) const {
    return MakeError(ErrorKind::kInvalidArgument, At(line) + ": " + what);
  }

  Status CheckKeys(const YAML::Node& map, std::initializer_list<std::string_view> allowed,
                   const std::string& where) {
    for (const auto& kv : map) {
      const std::string& key = kv.first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        std::vector<std::string> names(allowed.begin(), allowed.end());
        return Fail(kv.first, "unknown key '" + key + "' in " + where + " (expected " +
                                  Join(names, ", ") + ")");
      }
    }
    return Ok();
  }

  template <typename F>
  Status ForEach(const YAML::Node& list, const std::string& what, F&& f) {
    if (!list || list.IsNull()) return Ok();
    if (!list.IsSequence()) return Fail(list, what + " must be a list");
    for (const auto& n : list) {
      if (!n.IsMap()) return Fail(n, "an entry of " + what + " must be a mapping");
      FRZ_RETURN_IF_ERROR(f(n));
    }
    return Ok();
  }

  Result<std::string> String(const YAML::Node& n, const std::string& what) {
    if (!n.IsScalar()) return Fail(n, what + " must be a string");
    return n.Scalar();
  }

  Result<std::string> Name(const YAML::Node& n, const std::string& what) {
    FRZ_ASSIGN_OR_RETURN(std::string s, String(n, what));
    if (!IsIdentifier(s))
      return Fail(n, what + " '" + s +
                         "' is not a name (letters, digits and _, not starting with a digit)");
    return s;
  }

  // A column of a generated model: an identifier outside the `__` names, which are the
  // generator's (metadata such as __hashdiff, and the helper columns of its queries).
  Result<std::string> Column(const YAML::Node& n, const std::string& what) {
    FRZ_ASSIGN_OR_RETURN(std::string s, Name(n, what));
    if (s.starts_with("__"))
      return Fail(n, what + " '" + s + "': names starting with __ are the generator's");
    return s;
  }

  Result<std::string> Required(const YAML::Node& map, const char* key, const std::string& entity) {
    if (!map[key] || map[key].IsNull()) return Fail(map, entity + " needs '" + key + "'");
    return Name(map[key], std::string(key));
  }

  Result<bool> Bool(const YAML::Node& n, const std::string& what) {
    if (n.IsScalar()) {
      const std::string& s = n.Scalar();
      if (s == "true" || s == "True" || s == "TRUE" || s == "yes") return true;
      if (s == "false" || s == "False" || s == "FALSE" || s == "no") return false;
    }
    return Fail(n, what + " must be true or false");
  }

  // A literal that lands in SQL text: it must not open a Jinja tag.
  Result<std::string> Literal(const YAML::Node& n, const std::string& what) {
    if (n.IsNull()) return std::string();
    FRZ_ASSIGN_OR_RETURN(std::string s, String(n, what));
    for (const char* open : {"{{", "{%", "{#"}) {
      if (s.find(open) != std::string::npos)
        return Fail(n, what + " must not contain '" + open + "' (it is Jinja)");
    }
    return s;
  }

  // A list of names (one name alone is a list of one); empty lists are refused.
  Result<std::vector<std::string>> Names(const YAML::Node& n, const std::string& what,
                                         bool columns) {
    std::vector<YAML::Node> items;
    if (n.IsScalar()) {
      items.push_back(n);
    } else if (n.IsSequence()) {
      for (const auto& e : n) items.push_back(e);
    } else {
      return Fail(n, what + " must be a name or a list of names");
    }
    if (items.empty()) return Fail(n, what + " is empty");
    std::vector<std::string> out;
    for (const auto& e : items) {
      std::string s;
      if (columns) {
        FRZ_ASSIGN_OR_RETURN(s, Column(e, what));
      } else {
        FRZ_ASSIGN_OR_RETURN(s, Name(e, what));
      }
      if (std::find(out.begin(), out.end(), s) != out.end())
        return Fail(e, what + " names '" + s + "' twice");
      out.push_back(s);
    }
    return out;
  }

  // The source columns for `keys`: a list in key order, a mapping key -> column, or (absent)
  // the key names themselves when `default_same` is set.
  Result<std::vector<std::string>> KeyColumns(const YAML::Node& map, const char* key,
                                              const std::vector<std::string>& keys,
                                              const std::string& whose, bool default_same) {
    const YAML::Node n = map[key];
    if (!n || n.IsNull()) {
      if (default_same) return keys;
      return Fail(map, "'" + std::string(key) + "' is required for " + whose);
    }
    std::vector<std::string> out;
    if (n.IsMap()) {
      std::map<std::string, std::string> by_key;
      for (const auto& kv : n) {
        FRZ_ASSIGN_OR_RETURN(std::string k, Name(kv.first, "business key"));
        if (std::find(keys.begin(), keys.end(), k) == keys.end()) {
          return Fail(kv.first, "'" + k + "' is not a business key of " + whose + " (" +
                                    Join(keys, ", ") + ")");
        }
        FRZ_ASSIGN_OR_RETURN(by_key[k], Name(kv.second, "source column"));
      }
      for (const auto& k : keys) {
        if (!by_key.contains(k))
          return Fail(n, "no source column for business key '" + k + "' of " + whose);
        out.push_back(by_key[k]);
      }
      return out;
    }
    std::vector<YAML::Node> items;
    if (n.IsScalar()) {
      items.push_back(n);
    } else if (n.IsSequence()) {
      for (const auto& e : n) items.push_back(e);
    } else {
      return Fail(n, std::string(key) + " must be a list of source columns or a mapping");
    }
    for (const auto& e : items) {
      FRZ_ASSIGN_OR_RETURN(std::string c, Name(e, "source column"));
      out.push_back(c);
    }
    if (out.size() != keys.size()) {
      return Fail(n, std::to_string(out.size()) + " source column(s) for the " +
                         std::to_string(keys.size()) + " business key(s) of " + whose + " (" +
                         Join(keys, ", ") + ")");
    }
    return out;
  }

  Status ClaimName(const std::string& name, int line) {
    auto [it, fresh] = names_.emplace(name, line);
    if (!fresh)
      return Fail(line, "duplicate name '" + name + "' (first defined at line " +
                            std::to_string(it->second) + ")");
    return Ok();
  }

  Status CompatRefuses(const YAML::Node& map, const char* key, const std::string& why) {
    if (settings_.compat && map[key])
      return Fail(map[key], "compat: prototype " + why + "; remove '" + key + "'");
    return Ok();
  }

  // ---- settings

  Status ReadSettings(const YAML::Node& n) {
    if (!n || n.IsNull()) return Ok();
    if (!n.IsMap()) return Fail(n, "settings must be a mapping");
    FRZ_RETURN_IF_ERROR(
        CheckKeys(n,
                  {"schema", "compat", "hash", "normalize", "delimiter", "null_placeholder",
                   "record_source", "load_timestamp", "source_columns", "effectivity"},
                  "settings"));
    if (n["compat"] && !n["compat"].IsNull()) {
      FRZ_ASSIGN_OR_RETURN(std::string c, String(n["compat"], "compat"));
      if (c == "prototype") {
        settings_.compat = true;
        settings_.effectivity = "none";
      } else if (c != "none") {
        return Fail(n["compat"], "compat must be 'prototype' or 'none', not '" + c + "'");
      }
    }
    const std::string fixed = "fixes the hashing (hex md5 of the raw text, upper case)";
    for (const char* key : {"normalize", "delimiter", "null_placeholder"})
      FRZ_RETURN_IF_ERROR(CompatRefuses(n, key, fixed));
    FRZ_RETURN_IF_ERROR(CompatRefuses(
        n, "record_source", "takes the record source from the source's connector column"));
    FRZ_RETURN_IF_ERROR(
        CompatRefuses(n, "load_timestamp", "loads current_timestamp as __inserted_at only"));
    if (n["schema"]) {
      FRZ_ASSIGN_OR_RETURN(settings_.schema, Name(n["schema"], "schema"));
    }
    if (n["hash"]) {
      FRZ_ASSIGN_OR_RETURN(settings_.hash, String(n["hash"], "hash"));
      if (settings_.hash != "md5" && settings_.hash != "sha1" && settings_.hash != "sha256") {
        return Fail(n["hash"], "hash must be md5, sha1 or sha256, not '" + settings_.hash + "'");
      }
      if (settings_.compat && settings_.hash != "md5")
        return Fail(n["hash"], "compat: prototype " + fixed + "; remove 'hash'");
    }
    if (const YAML::Node norm = n["normalize"]) {
      if (!norm.IsMap())
        return Fail(norm, "normalize must be a mapping {trim: true|false, upper: true|false}");
      FRZ_RETURN_IF_ERROR(CheckKeys(norm, {"trim", "upper"}, "normalize"));
      if (norm["trim"]) {
        FRZ_ASSIGN_OR_RETURN(settings_.trim, Bool(norm["trim"], "normalize.trim"));
      }
      if (norm["upper"]) {
        FRZ_ASSIGN_OR_RETURN(settings_.upper, Bool(norm["upper"], "normalize.upper"));
      }
    }
    if (n["delimiter"]) {
      FRZ_ASSIGN_OR_RETURN(settings_.delimiter, Literal(n["delimiter"], "delimiter"));
      if (settings_.delimiter.empty())
        return Fail(n["delimiter"],
                    "delimiter must not be empty (keys would collide: 'ab'||'c' = 'a'||'bc')");
    }
    if (n["null_placeholder"]) {
      FRZ_ASSIGN_OR_RETURN(settings_.null_placeholder,
                           Literal(n["null_placeholder"], "null_placeholder"));
      if (settings_.null_placeholder.find(settings_.delimiter) != std::string::npos) {
        return Fail(n["null_placeholder"], "null_placeholder must not contain the delimiter '" +
                                               settings_.delimiter + "'");
      }
    }
    if (n["record_source"]) {
      FRZ_ASSIGN_OR_RETURN(settings_.record_source, Literal(n["record_source"], "record_source"));
    }
    if (n["load_timestamp"]) {
      FRZ_ASSIGN_OR_RETURN(settings_.load_timestamp, Name(n["load_timestamp"], "load_timestamp"));
    }
    if (const YAML::Node sc = n["source_columns"]) {
      if (!sc.IsMap()) return Fail(sc, "source_columns must be a mapping");
      FRZ_RETURN_IF_ERROR(CheckKeys(sc, {"lsn", "deleted", "valid_from", "details", "connector"},
                                    "source_columns"));
      SourceColumns& c = settings_.columns;
      if (sc["lsn"]) {
        FRZ_ASSIGN_OR_RETURN(c.lsn, Name(sc["lsn"], "source_columns.lsn"));
      }
      if (sc["deleted"]) {
        FRZ_ASSIGN_OR_RETURN(c.deleted, Name(sc["deleted"], "source_columns.deleted"));
      }
      if (sc["valid_from"]) {
        FRZ_ASSIGN_OR_RETURN(c.valid_from, Name(sc["valid_from"], "source_columns.valid_from"));
      }
      if (sc["details"]) {
        if (sc["details"].IsNull()) {
          c.details.clear();
        } else {
          FRZ_ASSIGN_OR_RETURN(c.details, Name(sc["details"], "source_columns.details"));
        }
      }
      if (sc["connector"]) {
        FRZ_ASSIGN_OR_RETURN(c.connector, Name(sc["connector"], "source_columns.connector"));
      }
    }
    if (n["effectivity"]) {
      FRZ_ASSIGN_OR_RETURN(settings_.effectivity, Effectivity(n["effectivity"]));
    }
    return Ok();
  }

  Result<std::string> Effectivity(const YAML::Node& n) {
    if (n.IsScalar() && (n.Scalar() == "false" || n.Scalar() == "none")) return std::string("none");
    if (n.IsScalar() && (n.Scalar() == "view" || n.Scalar() == "table")) return n.Scalar();
    return Fail(n, "effectivity must be view, table or none");
  }

  // An entity's record source: its own, the settings', or the model's name.
  Result<std::string> RecordSource(const YAML::Node& n, const std::string& model) {
    if (n["record_source"]) return Literal(n["record_source"], "record_source");
    return settings_.record_source.value_or(model);
  }

  // ---- hubs, links, satellites

  Status ReadHub(const YAML::Node& n) {
    FRZ_RETURN_IF_ERROR(
        CheckKeys(n, {"name", "hash_key", "business_keys", "sources", "description"}, "a hub"));
    Hub h;
    h.line = n.Mark().line + 1;
    FRZ_ASSIGN_OR_RETURN(h.name, Required(n, "name", "a hub"));
    std::string whose = "hub '" + h.name + "'";
    h.hash_key = DefaultHashKey(h.name, {"hub_", "h_"});
    if (n["hash_key"]) {
      FRZ_ASSIGN_OR_RETURN(h.hash_key, Column(n["hash_key"], "hash_key"));
    }
    if (!n["business_keys"] || n["business_keys"].IsNull())
      return Fail(n, whose + " needs 'business_keys'");
    FRZ_ASSIGN_OR_RETURN(h.business_keys, Names(n["business_keys"], "business_keys", true));
    if (std::find(h.business_keys.begin(), h.business_keys.end(), h.hash_key) !=
        h.business_keys.end()) {
      return Fail(n["business_keys"],
                  whose + ": business key '" + h.hash_key + "' is also the hash key's name");
    }
    const YAML::Node sources = n["sources"];
    if (!sources || sources.IsNull()) return Fail(n, whose + " needs 'sources'");
    if (!sources.IsSequence() || sources.size() == 0)
      return Fail(sources, whose + ": sources must be a non-empty list");
    for (const auto& s : sources) {
      if (!s.IsMap())
        return Fail(s, "a hub source must be a mapping {model, columns, record_source}");
      FRZ_RETURN_IF_ERROR(CheckKeys(s, {"model", "columns", "record_source"}, "a hub source"));
      HubSource src;
      src.line = s.Mark().line + 1;
      FRZ_ASSIGN_OR_RETURN(src.model, Required(s, "model", "a source of " + whose));
      FRZ_ASSIGN_OR_RETURN(src.columns, KeyColumns(s, "columns", h.business_keys, whose, true));
      FRZ_RETURN_IF_ERROR(CompatRefuses(
          s, "record_source", "takes the record source from the source's connector column"));
      FRZ_ASSIGN_OR_RETURN(src.record_source, RecordSource(s, src.model));
      h.sources.push_back(std::move(src));
    }
    if (settings_.compat && h.sources.size() > 1) {
      return Fail(sources, "compat: prototype: " + whose + " has " +
                               std::to_string(h.sources.size()) +
                               " sources; the prototype's hubs read one model");
    }
    FRZ_RETURN_IF_ERROR(ClaimName(h.name, h.line));
    hubs_.push_back(std::move(h));
    return Ok();
  }

  const Hub* FindHub(const std::string& name) const {
    for (const auto& h : hubs_) {
      if (h.name == name) return &h;
    }
    return nullptr;
  }
  const Link* FindLink(const std::string& name) const {
    for (const auto& l : links_) {
      if (l.name == name) return &l;
    }
    return nullptr;
  }

  Status ReadLink(const YAML::Node& n) {
    FRZ_RETURN_IF_ERROR(CheckKeys(
        n, {"name", "hash_key", "source", "hubs", "record_source", "description"}, "a link"));
    Link l;
    l.line = n.Mark().line + 1;
    FRZ_ASSIGN_OR_RETURN(l.name, Required(n, "name", "a link"));
    std::string whose = "link '" + l.name + "'";
    l.hash_key = DefaultHashKey(l.name, {"link_", "l_"});
    if (n["hash_key"]) {
      FRZ_ASSIGN_OR_RETURN(l.hash_key, Column(n["hash_key"], "hash_key"));
    }
    FRZ_ASSIGN_OR_RETURN(l.source, Required(n, "source", whose));
    FRZ_RETURN_IF_ERROR(CompatRefuses(
        n, "record_source", "takes the record source from the source's connector column"));
    FRZ_ASSIGN_OR_RETURN(l.record_source, RecordSource(n, l.source));
    const YAML::Node refs = n["hubs"];
    if (!refs || refs.IsNull()) return Fail(n, whose + " needs 'hubs'");
    if (!refs.IsSequence() || refs.size() < 2)
      return Fail(refs, whose + ": hubs must list at least two hub references");
    std::set<std::string> columns = {l.hash_key};
    for (const auto& r : refs) {
      if (!r.IsMap())
        return Fail(r, "a link's hub reference must be a mapping {hub, columns, hash_key}");
      FRZ_RETURN_IF_ERROR(CheckKeys(r, {"hub", "columns", "hash_key"}, "a link's hub reference"));
      HubRef ref;
      FRZ_ASSIGN_OR_RETURN(std::string hub_name, Required(r, "hub", "a hub reference of " + whose));
      ref.hub = FindHub(hub_name);
      if (!ref.hub)
        return Fail(r["hub"], whose + " names unknown hub '" + hub_name +
                                  "' (hubs are declared in the same file)");
      FRZ_ASSIGN_OR_RETURN(ref.columns, KeyColumns(r, "columns", ref.hub->business_keys,
                                                   "hub '" + hub_name + "'", false));
      ref.hash_key = ref.hub->hash_key;
      if (r["hash_key"]) {
        FRZ_ASSIGN_OR_RETURN(ref.hash_key, Column(r["hash_key"], "hash_key"));
      }
      if (!columns.insert(ref.hash_key).second) {
        return Fail(r, whose + ": column '" + ref.hash_key +
                           "' appears twice; give this reference its own 'hash_key'");
      }
      l.hubs.push_back(std::move(ref));
    }
    FRZ_RETURN_IF_ERROR(ClaimName(l.name, l.line));
    links_.push_back(std::move(l));
    return Ok();
  }

  Status ReadSatellite(const YAML::Node& n) {
    FRZ_RETURN_IF_ERROR(CheckKeys(n,
                                  {"name", "parent", "source", "keys", "payload", "record_source",
                                   "effectivity", "description"},
                                  "a satellite"));
    Satellite s;
    s.line = n.Mark().line + 1;
    FRZ_ASSIGN_OR_RETURN(s.name, Required(n, "name", "a satellite"));
    std::string whose = "satellite '" + s.name + "'";
    FRZ_ASSIGN_OR_RETURN(std::string parent, Required(n, "parent", whose));
    s.parent_hub = FindHub(parent);
    s.parent_link = s.parent_hub ? nullptr : FindLink(parent);
    if (!s.parent_hub && !s.parent_link) {
      return Fail(n["parent"], whose + " names unknown parent '" + parent +
                                   "' (a hub or link declared in the same file)");
    }
    FRZ_ASSIGN_OR_RETURN(s.source, Required(n, "source", whose));
    // The parent's key in the source: given, or taken from the parent's own mapping for
    // the same model.
    std::vector<std::string> key_names;
    std::vector<std::vector<std::string>> known;
    if (s.parent_hub) {
      s.hash_key = s.parent_hub->hash_key;
      key_names = s.parent_hub->business_keys;
      for (const auto& src : s.parent_hub->sources) {
        if (src.model == s.source) known.push_back(src.columns);
      }
    } else {
      s.hash_key = s.parent_link->hash_key;
      std::vector<std::string> flat;
      for (const auto& r : s.parent_link->hubs) {
        for (const auto& c : r.columns) flat.push_back(c);
        for (const auto& k : r.hub->business_keys) key_names.push_back(r.hub->name + "." + k);
      }
      if (s.parent_link->source == s.source) known.push_back(flat);
    }
    if (n["keys"] && !n["keys"].IsNull()) {
      if (s.parent_link && n["keys"].IsMap()) {
        return Fail(n["keys"], whose + ": the keys of a link's satellite are a list");
      }
      FRZ_ASSIGN_OR_RETURN(s.keys, KeyColumns(n, "keys", key_names, "'" + parent + "'", false));
    } else if (known.size() == 1) {
      s.keys = known[0];
    } else if (known.empty()) {
      return Fail(n, whose + " reads '" + s.source + "', which '" + parent +
                         "' does not read: list the source columns of its key in 'keys'");
    } else {
      return Fail(n, whose + ": '" + parent + "' reads '" + s.source + "' through " +
                         std::to_string(known.size()) +
                         " sources: choose the key columns with 'keys'");
    }
    if (!n["payload"] || n["payload"].IsNull()) return Fail(n, whose + " needs 'payload'");
    FRZ_ASSIGN_OR_RETURN(s.payload, Names(n["payload"], "payload", true));
    if (std::find(s.payload.begin(), s.payload.end(), s.hash_key) != s.payload.end()) {
      return Fail(n["payload"],
                  whose + ": payload column '" + s.hash_key + "' is the hash key's name");
    }
    FRZ_RETURN_IF_ERROR(CompatRefuses(
        n, "record_source", "takes the record source from the source's connector column"));
    FRZ_ASSIGN_OR_RETURN(s.record_source, RecordSource(n, s.source));
    s.effectivity = settings_.effectivity;
    if (n["effectivity"]) {
      FRZ_ASSIGN_OR_RETURN(s.effectivity, Effectivity(n["effectivity"]));
    }
    FRZ_RETURN_IF_ERROR(ClaimName(s.name, s.line));
    if (s.effectivity != "none") FRZ_RETURN_IF_ERROR(ClaimName(s.name + "_eff", s.line));
    satellites_.push_back(std::move(s));
    return Ok();
  }

  Result<std::vector<GeneratedModel>> Generate() const {
    std::vector<GeneratedModel> out;
    for (const auto& h : hubs_) out.push_back({h.name, At(h.line), dv::HubSql(settings_, file_, h)});
    for (const auto& l : links_) out.push_back({l.name, At(l.line), dv::LinkSql(settings_, file_, l)});
    for (const auto& s : satellites_) {
      out.push_back({s.name, At(s.line), dv::SatelliteSql(settings_, file_, s)});
      if (s.effectivity != "none") {
        out.push_back({s.name + "_eff", At(s.line), dv::EffectivitySql(settings_, file_, s)});
      }
    }
    return out;
  }

  std::string file_;
  Settings settings_;
  // Links point into hubs_ and satellites into hubs_ and links_: every hub is read before any
  // link, every link before any satellite, so the vectors no longer grow by then.
  std::vector<Hub> hubs_;
  std::vector<Link> links_;
  std::vector<Satellite> satellites_;
  std::map<std::string, int> names_;  // entity name -> line
};

}  // namespace

Result<std::vector<GeneratedModel>> GenerateDataVault(const std::string& spec_yaml,
                                                      const std::string& file_name) {
  try {
    SpecReader reader(file_name);
    return reader.Run(spec_yaml);
  } catch (const YAML::Exception& e) {
    return MakeError(ErrorKind::kInvalidArgument,
                     file_name + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
}

}  // namespace frazil::transform
