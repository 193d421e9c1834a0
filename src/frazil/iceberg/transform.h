// Partition transforms (spec "Partition Transforms"): identity, bucket[N], truncate[W],
// year, month, day, hour, void. bucket hashes with murmur3_x86_32 (seed 0).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "frazil/base/result.h"
#include "frazil/iceberg/datum.h"
#include "frazil/iceberg/type.h"

namespace frazil::iceberg {

enum class TransformKind { kIdentity, kBucket, kTruncate, kYear, kMonth, kDay, kHour, kVoid };

struct Transform {
  TransformKind kind = TransformKind::kIdentity;
  int param = 0;  // N for bucket, W for truncate

  // "identity", "bucket[16]", "truncate[4]", "year", ..., "void".
  std::string ToString() const;
  bool operator==(const Transform&) const = default;

  // Whether the transform applies to a source column of this type.
  bool CanTransform(const Type& source) const;
  // The type of the transform's result (bucket/year/month/hour -> int, day -> date,
  // identity/truncate/void -> the source type).
  Result<TypePtr> ResultType(const TypePtr& source) const;
  // Applies the transform; null in -> null out. year/month/day/hour count from 1970 and
  // floor for earlier times.
  Result<Datum> Apply(const Type& source, const Datum& value) const;
  // Whether the transform preserves order (lets a range predicate on the source prune on
  // the partition value): identity, truncate, year, month, day, hour.
  bool PreservesOrder() const;
};

Result<Transform> ParseTransform(std::string_view text);

// murmur3_x86_32 with seed 0 over raw bytes.
int32_t Murmur3Hash32(std::string_view bytes);
// The bucket hash of a value per the spec (int/date/long/time/timestamp as 8-byte LE long;
// decimal minimal BE two's complement; string UTF-8; uuid 16 bytes; binary/fixed raw).
Result<int32_t> BucketHash(const Type& type, const Datum& value);

}  // namespace frazil::iceberg
