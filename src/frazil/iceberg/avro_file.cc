// Avro object container files (spec "Object Container Files").
#include <snappy.h>
#include <zlib.h>

#include <random>
#include <string>

#include "frazil/iceberg/avro.h"

namespace frazil::iceberg::avro {
namespace {

constexpr std::string_view kMagic("Obj\x01", 4);
constexpr size_t kSyncSize = 16;
constexpr size_t kBlockTarget = 1 << 20;
// A decompressed block larger than this is treated as corrupt (a deflate bomb guard).
constexpr size_t kMaxBlockSize = size_t{1} << 30;

std::string_view CodecName(AvroCodec codec) {
  switch (codec) {
    case AvroCodec::kNull:
      return "null";
    case AvroCodec::kDeflate:
      return "deflate";
    case AvroCodec::kSnappy:
      return "snappy";
  }
  return "null";
}

Result<std::string> Deflate(std::string_view in) {
  z_stream zs{};
  // Negative window bits: raw deflate without the zlib header, as Avro specifies.
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return MakeError(ErrorKind::kInternal, "avro: deflateInit2 failed");
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(in.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  size_t produced = zs.total_out;
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) return MakeError(ErrorKind::kInternal, "avro: deflate failed");
  out.resize(produced);
  return out;
}

Result<std::string> Inflate(std::string_view in, const std::string& where) {
  z_stream zs{};
  if (inflateInit2(&zs, -15) != Z_OK)
    return MakeError(ErrorKind::kInternal, "avro: inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs.avail_in = static_cast<uInt>(in.size());
  std::string out;
  char buf[64 * 1024];
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof(buf);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    out.append(buf, sizeof(buf) - zs.avail_out);
    if (out.size() > kMaxBlockSize) break;
    if (rc == Z_OK && zs.avail_in == 0 && zs.avail_out != 0) break;  // input ended early
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) {
    return MakeError(ErrorKind::kCorrupt, "avro: bad deflate data in " + where);
  }
  return out;
}

uint32_t Crc32(std::string_view data) {
  return static_cast<uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
}

Result<std::string> Compress(AvroCodec codec, std::string_view in) {
  switch (codec) {
    case AvroCodec::kNull:
      return std::string(in);
    case AvroCodec::kDeflate:
      return Deflate(in);
    case AvroCodec::kSnappy: {
      std::string out;
      snappy::Compress(in.data(), in.size(), &out);
      uint32_t crc = Crc32(in);
      for (int shift = 24; shift >= 0; shift -= 8)
        out.push_back(static_cast<char>((crc >> shift) & 0xff));
      return out;
    }
  }
  return MakeError(ErrorKind::kInternal, "avro: unknown codec");
}

Result<std::string> Decompress(AvroCodec codec, std::string_view in, const std::string& where) {
  switch (codec) {
    case AvroCodec::kNull:
      return std::string(in);
    case AvroCodec::kDeflate:
      return Inflate(in, where);
    case AvroCodec::kSnappy: {
      if (in.size() < 4)
        return MakeError(ErrorKind::kCorrupt, "avro: snappy " + where + " shorter than its CRC");
      std::string_view body = in.substr(0, in.size() - 4);
      size_t length = 0;
      if (!snappy::GetUncompressedLength(body.data(), body.size(), &length) ||
          length > kMaxBlockSize) {
        return MakeError(ErrorKind::kCorrupt, "avro: bad snappy data in " + where);
      }
      std::string out;
      if (!snappy::Uncompress(body.data(), body.size(), &out)) {
        return MakeError(ErrorKind::kCorrupt, "avro: bad snappy data in " + where);
      }
      uint32_t expected = 0;
      for (size_t i = in.size() - 4; i < in.size(); ++i)
        expected = (expected << 8) | static_cast<uint8_t>(in[i]);
      if (Crc32(out) != expected)
        return MakeError(ErrorKind::kCorrupt, "avro: snappy CRC mismatch in " + where);
      return out;
    }
  }
  return MakeError(ErrorKind::kInternal, "avro: unknown codec");
}

std::string RandomSync() {
  std::random_device rd;
  std::string sync(kSyncSize, '\0');
  for (char& c : sync) c = static_cast<char>(rd() & 0xff);
  return sync;
}

void PutBytes(std::string_view s, std::string* out) {
  EncodeAvroLong(static_cast<int64_t>(s.size()), out);
  out->append(s);
}

}  // namespace

Result<AvroFileWriter> AvroFileWriter::Make(
    std::string schema_json, std::vector<std::pair<std::string, std::string>> metadata,
    AvroCodec codec) {
  AvroFileWriter w;
  FRZ_ASSIGN_OR_RETURN(w.schema_, ParseAvroSchema(schema_json));
  for (const auto& [key, value] : metadata) {
    if (key.starts_with("avro.")) {
      return MakeError(ErrorKind::kInvalidArgument, "avro: reserved header key " + key);
    }
  }
  w.schema_json_ = std::move(schema_json);
  w.metadata_ = std::move(metadata);
  w.codec_ = codec;
  w.sync_ = RandomSync();
  return w;
}

Status AvroFileWriter::Append(const AvroValue& value) {
  size_t before = pending_.size();
  Status st = EncodeAvro(*schema_, value, &pending_);
  if (!st) {
    pending_.resize(before);  // keep the block consistent after a rejected record
    return st;
  }
  ++pending_count_;
  if (pending_.size() >= kBlockTarget) return FlushBlock();
  return Ok();
}

Status AvroFileWriter::FlushBlock() {
  if (pending_count_ == 0) return Ok();
  FRZ_ASSIGN_OR_RETURN(std::string data, Compress(codec_, pending_));
  EncodeAvroLong(pending_count_, &blocks_);
  PutBytes(data, &blocks_);
  blocks_.append(sync_);
  pending_.clear();
  pending_count_ = 0;
  return Ok();
}

Result<std::string> AvroFileWriter::Finish() {
  if (sync_.size() != kSyncSize)
    return MakeError(ErrorKind::kInvalidArgument, "avro: sync marker must be 16 bytes");
  FRZ_RETURN_IF_ERROR(FlushBlock());
  std::string out(kMagic);
  // Metadata map: one block with every entry, then the terminating zero count.
  EncodeAvroLong(static_cast<int64_t>(metadata_.size() + 2), &out);
  for (const auto& [key, value] : metadata_) {
    PutBytes(key, &out);
    PutBytes(value, &out);
  }
  PutBytes("avro.schema", &out);
  PutBytes(schema_json_, &out);
  PutBytes("avro.codec", &out);
  PutBytes(CodecName(codec_), &out);
  out.push_back(0);
  out.append(sync_);
  out.append(blocks_);
  blocks_.clear();
  return out;
}

Result<AvroFile> ReadAvroFile(std::string_view bytes) {
  if (bytes.size() < kMagic.size() || bytes.substr(0, kMagic.size()) != kMagic) {
    return MakeError(ErrorKind::kCorrupt, "avro: not an Avro object container file (bad magic)");
  }
  AvroFile file;
  size_t pos = kMagic.size();
  // The header metadata is an Avro map<bytes>.
  AvroSchema header_schema;
  header_schema.type = AvroType::kMap;
  auto bytes_schema = std::make_shared<AvroSchema>();
  bytes_schema->type = AvroType::kBytes;
  header_schema.items = bytes_schema;
  auto header = DecodeAvro(header_schema, bytes, &pos);
  if (!header) {
    return MakeError(ErrorKind::kCorrupt, "avro: bad file header: " + header.error().message);
  }
  for (auto& [key, value] : header->entries) file.metadata[key] = std::move(value.bytes);
  if (bytes.size() - pos < kSyncSize) {
    return MakeError(ErrorKind::kCorrupt,
                     "avro: truncated sync marker at offset " + std::to_string(pos));
  }
  std::string_view sync = bytes.substr(pos, kSyncSize);
  pos += kSyncSize;

  auto schema_it = file.metadata.find("avro.schema");
  if (schema_it == file.metadata.end())
    return MakeError(ErrorKind::kCorrupt, "avro: header without avro.schema");
  file.schema_json = schema_it->second;
  auto schema = ParseAvroSchema(file.schema_json);
  if (!schema)
    return MakeError(ErrorKind::kCorrupt, "avro: bad writer schema: " + schema.error().message);
  file.schema = *schema;
  if (auto codec_it = file.metadata.find("avro.codec"); codec_it != file.metadata.end()) {
    const std::string& name = codec_it->second;
    if (name == "null" || name.empty()) {
      file.codec = AvroCodec::kNull;
    } else if (name == "deflate") {
      file.codec = AvroCodec::kDeflate;
    } else if (name == "snappy") {
      file.codec = AvroCodec::kSnappy;
    } else {
      return MakeError(ErrorKind::kUnsupported, "avro: unsupported codec " + name);
    }
  }

  for (int block = 0; pos < bytes.size(); ++block) {
    const std::string where =
        "block " + std::to_string(block) + " at offset " + std::to_string(pos);
    auto count = DecodeAvroLong(bytes, &pos);
    if (!count) return MakeError(ErrorKind::kCorrupt, "avro: bad record count of " + where);
    auto size = DecodeAvroLong(bytes, &pos);
    if (!size) return MakeError(ErrorKind::kCorrupt, "avro: bad size of " + where);
    if (*count < 0 || *size < 0 || static_cast<uint64_t>(*size) > bytes.size() - pos) {
      return MakeError(ErrorKind::kCorrupt, "avro: truncated or bad " + where);
    }
    std::string_view raw = bytes.substr(pos, static_cast<size_t>(*size));
    size_t data_offset = pos;
    pos += static_cast<size_t>(*size);
    if (bytes.size() - pos < kSyncSize || bytes.substr(pos, kSyncSize) != sync) {
      return MakeError(ErrorKind::kCorrupt, "avro: missing or wrong sync marker after " + where);
    }
    pos += kSyncSize;
    FRZ_ASSIGN_OR_RETURN(std::string data, Decompress(file.codec, raw, where));
    // Each record takes at least one byte unless its schema can encode to nothing.
    if (static_cast<uint64_t>(*count) > data.size() + (1 << 20)) {
      return MakeError(ErrorKind::kCorrupt, "avro: record count exceeds the data of " + where);
    }
    size_t p = 0;
    for (int64_t i = 0; i < *count; ++i) {
      // Offsets of compressed blocks are relative to the decompressed data.
      auto value =
          DecodeAvro(*file.schema, data, &p, file.codec == AvroCodec::kNull ? data_offset : 0);
      if (!value) {
        return MakeError(ErrorKind::kCorrupt, value.error().message + " (record " +
                                                  std::to_string(i) + " of " + where + ")");
      }
      file.records.push_back(std::move(*value));
    }
    if (p != data.size()) {
      return MakeError(ErrorKind::kCorrupt, "avro: " + std::to_string(data.size() - p) +
                                                " undecoded bytes at the end of " + where);
    }
  }
  return file;
}

}  // namespace frazil::iceberg::avro
