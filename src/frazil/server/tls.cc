#include "frazil/server/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace frazil::server {
namespace {

// OpenSSL's own socket BIO writes with write(2): a peer that has reset the connection would
// raise SIGPIPE and kill a process that does not ignore it. This one sends with MSG_NOSIGNAL.
int SocketWrite(BIO* bio, const char* data, int size) {
  int fd = static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio)));
  BIO_clear_retry_flags(bio);
  ssize_t n;
  do {
    n = ::send(fd, data, static_cast<size_t>(size), MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) BIO_set_retry_write(bio);
  return static_cast<int>(n);
}

int SocketRead(BIO* bio, char* out, int size) {
  int fd = static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(bio)));
  BIO_clear_retry_flags(bio);
  ssize_t n;
  do {
    n = ::recv(fd, out, static_cast<size_t>(size), 0);
  } while (n < 0 && errno == EINTR);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) BIO_set_retry_read(bio);
  return static_cast<int>(n);
}

long SocketCtrl(BIO*, int cmd, long, void*) {  // NOLINT(google-runtime-int): OpenSSL's type
  return cmd == BIO_CTRL_FLUSH ? 1 : 0;        // writes go straight to the socket
}

BIO_METHOD* SocketMethod() {
  // Created once and kept for the life of the process, like OpenSSL's built-in methods.
  static BIO_METHOD* method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "frazil socket");
    if (m == nullptr) return m;
    BIO_meth_set_write(m, SocketWrite);
    BIO_meth_set_read(m, SocketRead);
    BIO_meth_set_ctrl(m, SocketCtrl);
    return m;
  }();
  return method;
}

// The reason of the newest queued OpenSSL error ("no start line"), and clears the queue. The
// reason strings name what failed, never key or certificate contents.
std::string TakeOpenSslError() {
  unsigned long code = ERR_peek_last_error();  // NOLINT(google-runtime-int)
  const char* reason = code != 0 ? ERR_reason_error_string(code) : nullptr;
  std::string out = reason != nullptr ? reason : (code != 0 ? "OpenSSL error" : "unknown error");
  ERR_clear_error();
  return out;
}

Status CheckReadable(const std::string& path, std::string_view what) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) {
    return MakeError(ErrorKind::kIOError, "cannot read TLS " + std::string(what) + " file '" +
                                              path + "': " + std::strerror(errno));
  }
  std::fclose(f);
  return {};
}

// Never ask for a passphrase on the terminal: an encrypted key fails to load instead.
int NoPassphrase(char*, int, int, void*) { return 0; }

// Offers "http/1.1" when the client lists it; a client asking only for h2 gets no ALPN answer
// (it then speaks HTTP/1.1 or gives up) rather than a fatal alert.
int SelectAlpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
               unsigned int in_len, void*) {
  static constexpr unsigned char kHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};
  unsigned char* selected = nullptr;
  if (SSL_select_next_proto(&selected, out_len, kHttp11, sizeof kHttp11, in, in_len) ==
      OPENSSL_NPN_NEGOTIATED) {
    *out = selected;
    return SSL_TLSEXT_ERR_OK;
  }
  return SSL_TLSEXT_ERR_NOACK;
}

}  // namespace

void TlsContext::Free::operator()(ssl_ctx_st* ctx) const { SSL_CTX_free(ctx); }
TlsContext::~TlsContext() = default;

Result<TlsContext> TlsContext::MakeServer(const TlsServerConfig& config) {
  ERR_clear_error();
  FRZ_RETURN_IF_ERROR(CheckReadable(config.cert_file, "certificate"));
  FRZ_RETURN_IF_ERROR(CheckReadable(config.key_file, "key"));
  if (!config.client_ca_file.empty()) {
    FRZ_RETURN_IF_ERROR(CheckReadable(config.client_ca_file, "client CA"));
  }
  SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
  if (raw == nullptr) {
    return MakeError(ErrorKind::kInternal, "cannot create a TLS context: " + TakeOpenSslError());
  }
  TlsContext ctx(raw);
  SSL_CTX_set_min_proto_version(
      raw, config.min_version == TlsVersion::kTls13 ? TLS1_3_VERSION : TLS1_2_VERSION);
  // Renegotiation only serves attacks on a server; a TCP FIN without close_notify is an
  // ordinary end of stream for HTTP, whose own framing detects truncation.
  SSL_CTX_set_options(raw, SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                               SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  // The loop retries a write from a buffer that may have moved and grown (a response appended
  // behind a 100 Continue), and sends large responses record by record. Idle connections
  // give back their read and write buffers.
  SSL_CTX_set_mode(raw, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  // TLS 1.2: forward-secret AEAD suites only (Mozilla's "intermediate" list without DHE).
  // TLS 1.3 suites are all AEAD; OpenSSL's defaults stay.
  if (SSL_CTX_set_cipher_list(raw,
                              "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                              "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                              "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305") != 1) {
    return MakeError(ErrorKind::kInternal, "cannot set TLS ciphers: " + TakeOpenSslError());
  }
  SSL_CTX_set_default_passwd_cb(raw, NoPassphrase);
  if (SSL_CTX_use_certificate_chain_file(raw, config.cert_file.c_str()) != 1) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "TLS certificate file '" + config.cert_file +
                         "' holds no usable PEM certificate: " + TakeOpenSslError());
  }
  // Read apart from installing it: OpenSSL's "key values mismatch" would otherwise look like
  // an unreadable key.
  EVP_PKEY* key = nullptr;
  if (BIO* bio = BIO_new_file(config.key_file.c_str(), "r"); bio != nullptr) {
    key = PEM_read_bio_PrivateKey(bio, nullptr, NoPassphrase, nullptr);
    BIO_free(bio);
  }
  if (key == nullptr) {
    return MakeError(ErrorKind::kInvalidArgument,
                     "TLS key file '" + config.key_file +
                         "' holds no usable unencrypted PEM private key: " + TakeOpenSslError());
  }
  int used = SSL_CTX_use_PrivateKey(raw, key);  // takes its own reference
  EVP_PKEY_free(key);
  if (used != 1 || SSL_CTX_check_private_key(raw) != 1) {
    ERR_clear_error();
    return MakeError(ErrorKind::kInvalidArgument, "TLS key file '" + config.key_file +
                                                      "' does not match the certificate in '" +
                                                      config.cert_file + "'");
  }
  static constexpr unsigned char kSessionContext[] = "frazil-http";
  SSL_CTX_set_session_id_context(raw, kSessionContext, sizeof kSessionContext - 1);
  SSL_CTX_set_alpn_select_cb(raw, SelectAlpn, nullptr);
  if (!config.client_ca_file.empty()) {
    const char* ca = config.client_ca_file.c_str();
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(ca);
    if (SSL_CTX_load_verify_locations(raw, ca, nullptr) != 1 || names == nullptr) {
      if (names != nullptr) sk_X509_NAME_pop_free(names, X509_NAME_free);
      return MakeError(ErrorKind::kInvalidArgument,
                       "TLS client CA file '" + config.client_ca_file +
                           "' holds no usable PEM certificate: " + TakeOpenSslError());
    }
    SSL_CTX_set_client_CA_list(raw, names);  // takes ownership
    SSL_CTX_set_verify(raw, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  ERR_clear_error();
  return ctx;
}

void TlsSession::Free::operator()(ssl_st* ssl) const { SSL_free(ssl); }
TlsSession::~TlsSession() = default;

Result<TlsSession> TlsSession::Accept(const TlsContext& ctx, int fd) {
  ERR_clear_error();
  BIO_METHOD* method = SocketMethod();
  SSL* ssl = method != nullptr ? SSL_new(ctx.get()) : nullptr;
  if (ssl == nullptr) {
    return MakeError(ErrorKind::kInternal, "cannot create a TLS session: " + TakeOpenSslError());
  }
  TlsSession session(ssl);
  BIO* bio = BIO_new(method);
  if (bio == nullptr) {
    return MakeError(ErrorKind::kInternal, "cannot create a TLS socket BIO: " + TakeOpenSslError());
  }
  BIO_set_data(bio, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl, bio, bio);  // one reference, for both directions
  SSL_set_accept_state(ssl);
  return session;
}

TlsIo TlsSession::Classify(int ret) {
  int saved_errno = errno;
  int err = SSL_get_error(ssl_.get(), ret);
  switch (err) {
    case SSL_ERROR_WANT_READ:
      return TlsIo::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return TlsIo::kWantWrite;
    case SSL_ERROR_ZERO_RETURN:
      ERR_clear_error();
      return TlsIo::kClosed;
    case SSL_ERROR_SYSCALL:
      failed_ = true;
      error_ = saved_errno != 0 ? std::strerror(saved_errno) : "connection closed by the peer";
      ERR_clear_error();
      return TlsIo::kError;
    default:
      failed_ = true;
      error_ = TakeOpenSslError();
      return TlsIo::kError;
  }
}

TlsIo TlsSession::Handshake() {
  if (handshake_done_) return TlsIo::kOk;
  if (failed_) return TlsIo::kError;
  ERR_clear_error();
  errno = 0;
  int ret = SSL_do_handshake(ssl_.get());
  if (ret == 1) {
    handshake_done_ = true;
    return TlsIo::kOk;
  }
  TlsIo io = Classify(ret);
  // EOF in the middle of a handshake is a failed handshake, not a finished stream.
  if (io == TlsIo::kClosed) {
    failed_ = true;
    error_ = "connection closed during the handshake";
    return TlsIo::kError;
  }
  return io;
}

TlsIo TlsSession::Read(char* buf, size_t size, size_t* n) {
  *n = 0;
  if (failed_) return TlsIo::kError;
  ERR_clear_error();
  errno = 0;
  if (SSL_read_ex(ssl_.get(), buf, size, n) == 1) return TlsIo::kOk;
  return Classify(0);
}

size_t TlsSession::Pending() const { return static_cast<size_t>(SSL_pending(ssl_.get())); }

TlsIo TlsSession::Write(const char* data, size_t size, size_t* n) {
  *n = 0;
  if (failed_) return TlsIo::kError;
  ERR_clear_error();
  errno = 0;
  if (SSL_write_ex(ssl_.get(), data, size, n) == 1) return TlsIo::kOk;
  return Classify(0);
}

TlsIo TlsSession::SendCloseNotify() {
  // OpenSSL forbids SSL_shutdown after a fatal error; before the handshake there is no
  // session to close.
  if (failed_ || notify_sent_ || !handshake_done_) return TlsIo::kOk;
  ERR_clear_error();
  errno = 0;
  int ret = SSL_shutdown(ssl_.get());
  if (ret >= 0) {  // 0: sent, the peer's not yet seen (we do not wait for it); 1: both done
    notify_sent_ = true;
    return TlsIo::kOk;
  }
  TlsIo io = Classify(ret);
  if (io == TlsIo::kClosed) io = TlsIo::kError;
  if (io == TlsIo::kError) failed_ = true;
  return io;
}

std::string TlsSession::protocol() const {
  return handshake_done_ ? SSL_get_version(ssl_.get()) : "";
}

}  // namespace frazil::server
