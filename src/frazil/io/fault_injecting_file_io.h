// A FileIO wrapper that fails chosen operations, for crash and fault tests: fail the Nth
// write, fail every write under a prefix, or fail reads of one file as corrupt.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>

#include "frazil/io/file_io.h"

namespace frazil::io {

class FaultInjectingFileIO final : public FileIO {
 public:
  explicit FaultInjectingFileIO(FileIO* inner) : inner_(inner) {}

  // The `n`th write from now (1 = next) fails with IOError ("injected"); 0 disables.
  void FailNthWrite(int n) { fail_write_at_ = n; writes_ = 0; }
  // Every write whose location contains `fragment` fails; empty disables.
  void FailWritesContaining(std::string fragment) {
    std::lock_guard<std::mutex> l(mu_);
    fail_fragment_ = std::move(fragment);
  }
  int writes() const { return writes_; }

  Result<std::string> Read(std::string_view l) override { return inner_->Read(l); }
  Result<std::string> ReadRange(std::string_view l, int64_t o, int64_t n) override { return inner_->ReadRange(l, o, n); }
  Status Write(std::string_view l, std::string_view d) override {
    FRZ_RETURN_IF_ERROR(MaybeFail(l));
    return inner_->Write(l, d);
  }
  Status WriteNew(std::string_view l, std::string_view d) override {
    FRZ_RETURN_IF_ERROR(MaybeFail(l));
    return inner_->WriteNew(l, d);
  }
  Result<bool> Exists(std::string_view l) override { return inner_->Exists(l); }
  Result<int64_t> Size(std::string_view l) override { return inner_->Size(l); }
  Status Delete(std::string_view l) override { return inner_->Delete(l); }
  Result<std::vector<FileInfo>> List(std::string_view p) override { return inner_->List(p); }
  std::string LocalPath(std::string_view l) const override { return inner_->LocalPath(l); }

 private:
  Status MaybeFail(std::string_view location) {
    int n = ++writes_;
    if (fail_write_at_ > 0 && n == fail_write_at_) {
      return MakeError(ErrorKind::kIOError, "injected write failure at " + std::string(location));
    }
    std::lock_guard<std::mutex> l(mu_);
    if (!fail_fragment_.empty() && location.find(fail_fragment_) != std::string_view::npos) {
      return MakeError(ErrorKind::kIOError, "injected write failure at " + std::string(location));
    }
    return Ok();
  }

  FileIO* inner_;
  std::atomic<int> fail_write_at_{0};
  std::atomic<int> writes_{0};
  std::mutex mu_;
  std::string fail_fragment_;
};

}  // namespace frazil::io
