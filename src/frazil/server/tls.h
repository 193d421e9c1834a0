// Move-only owners of OpenSSL's server context (SSL_CTX) and of one connection's session (SSL),
// for HttpServer's non-blocking event loop. OpenSSL's errors become a Result or a reason string
// here and nowhere else. Nothing here logs, and no message carries key material.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "frazil/base/result.h"

// OpenSSL's handle types, without pulling <openssl/ssl.h> into every includer.
struct ssl_ctx_st;
struct ssl_st;

namespace frazil::server {

enum class TlsVersion { kTls12, kTls13 };

struct TlsServerConfig {
  std::string cert_file;  // PEM: the server certificate, then any intermediates
  std::string key_file;   // PEM: its private key (not encrypted)
  TlsVersion min_version = TlsVersion::kTls12;
  std::string client_ca_file;  // PEM CA bundle; non-empty: clients must present a cert it signs
};

// The server side of TLS: certificate, key, protocol floor, client verification. Immutable
// once made, so one context serves every connection (OpenSSL allows concurrent use).
class TlsContext {
 public:
  // Errors: IOError naming the file when a file cannot be read; InvalidArgument naming the
  // file when it holds no usable PEM certificate / key (an encrypted key included), and
  // naming both when the key does not belong to the certificate.
  static Result<TlsContext> MakeServer(const TlsServerConfig& config);

  TlsContext(TlsContext&&) noexcept = default;
  TlsContext& operator=(TlsContext&&) noexcept = default;
  ~TlsContext();

  ssl_ctx_st* get() const { return ctx_.get(); }

 private:
  struct Free {
    void operator()(ssl_ctx_st* ctx) const;
  };
  explicit TlsContext(ssl_ctx_st* ctx) : ctx_(ctx) {}
  std::unique_ptr<ssl_ctx_st, Free> ctx_;
};

// What a non-blocking TLS operation did. kWantRead / kWantWrite: retry (with the same
// arguments for Write) once the socket is readable / writable. kClosed: the peer ended the
// stream (close_notify, or a TCP FIN). kError: the session is dead; error() says why.
enum class TlsIo { kOk, kWantRead, kWantWrite, kClosed, kError };

// One server-side TLS connection over a non-blocking socket it does not own. Socket writes
// use MSG_NOSIGNAL: a peer that resets never raises SIGPIPE.
class TlsSession {
 public:
  // Errors: Internal when OpenSSL cannot allocate the session.
  static Result<TlsSession> Accept(const TlsContext& ctx, int fd);

  TlsSession(TlsSession&&) noexcept = default;
  TlsSession& operator=(TlsSession&&) noexcept = default;
  ~TlsSession();

  // Advances the server handshake; kOk once it is complete.
  TlsIo Handshake();
  bool handshake_done() const { return handshake_done_; }
  // Reads decrypted bytes into `buf`; on kOk `*n` > 0 bytes arrived.
  TlsIo Read(char* buf, size_t size, size_t* n);
  // Bytes already decrypted and waiting in OpenSSL's buffer (the socket will not signal them).
  size_t Pending() const;
  // Encrypts and sends from `data`; on kOk `*n` > 0 bytes were sent (maybe fewer than `size`).
  // After kWantRead / kWantWrite, call again with the unsent bytes still at `data` (the buffer
  // may move and grow).
  TlsIo Write(const char* data, size_t size, size_t* n);
  // Sends close_notify (without waiting for the peer's); kOk once it is on the socket. Does
  // nothing (kOk) after an error, or if it was already sent.
  TlsIo SendCloseNotify();
  // Why the last operation returned kError: OpenSSL's reason ("wrong version number") or the
  // socket error; empty otherwise.
  const std::string& error() const { return error_; }
  // The negotiated protocol, "TLSv1.3"; empty before the handshake.
  std::string protocol() const;

 private:
  struct Free {
    void operator()(ssl_st* ssl) const;
  };
  explicit TlsSession(ssl_st* ssl) : ssl_(ssl) {}
  TlsIo Classify(int ret);
  std::unique_ptr<ssl_st, Free> ssl_;
  bool handshake_done_ = false;
  bool failed_ = false;
  bool notify_sent_ = false;
  std::string error_;
};

}  // namespace frazil::server
