// Test helpers for the model runner's unit tests: a dbt-style project written into a fresh
// temporary directory, loading + parsing it as the CLI does (the compiler points into the
// project, so both live on the heap together), and rows as compact strings for exact
// comparisons.
#pragma once

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "frazil/transform/compiler.h"
#include "frazil/transform/project.h"

namespace frazil::transform::testing {

// A project directory that exists for the lifetime of the object. The constructor writes a
// minimal `dbt_project.yml` (`name: <name>`); Write() replaces or adds any file.
class TestProject {
 public:
  explicit TestProject(const std::string& name = "shop") {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "frazil_transform_XXXXXX").string();
    char* made = mkdtemp(pattern.data());
    EXPECT_NE(made, nullptr) << "mkdtemp failed";
    root_ = pattern;
    Write("dbt_project.yml", "name: " + name + "\n");
  }
  ~TestProject() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  TestProject(const TestProject&) = delete;
  TestProject& operator=(const TestProject&) = delete;

  // Writes `text` to `relative` (folders created as needed).
  void Write(const std::string& relative, const std::string& text) {
    std::filesystem::path p = std::filesystem::path(root_) / relative;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
    EXPECT_TRUE(out.good()) << "cannot write " << p;
  }
  void Remove(const std::string& relative) {
    std::error_code ec;
    std::filesystem::remove(std::filesystem::path(root_) / relative, ec);
  }
  const std::string& root() const { return root_; }

 private:
  std::string root_;
};

// A loaded project and its compiler (parsed), as the CLI holds them.
struct Loaded {
  Project project;
  std::optional<Compiler> compiler;
};

// Loads the project and parses it; the error of whichever step failed.
inline Result<std::unique_ptr<Loaded>> LoadAndParse(const std::string& root,
                                                    CompileOptions options = {}) {
  auto out = std::make_unique<Loaded>();
  FRZ_ASSIGN_OR_RETURN(out->project, LoadProject(root));
  FRZ_ASSIGN_OR_RETURN(auto c, Compiler::Make(out->project, std::move(options)));
  out->compiler.emplace(std::move(c));
  return out;
}

// Rows as "a,b|c,d" (NULL as "NULL"): one string compares a whole result exactly.
inline std::string RowsText(const std::vector<std::vector<std::optional<std::string>>>& rows) {
  std::string out;
  for (size_t r = 0; r < rows.size(); ++r) {
    if (r > 0) out += "|";
    for (size_t c = 0; c < rows[r].size(); ++c) {
      if (c > 0) out += ",";
      out += rows[r][c] ? *rows[r][c] : std::string("NULL");
    }
  }
  return out;
}

}  // namespace frazil::transform::testing
