// POSIX shared-memory segments as ArrayBuffers (see shm.h).
#include "shm.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "error.h"

namespace kiln {
namespace shm_api {
namespace {

constexpr const char* kPrefix = "/kiln-";
constexpr size_t kNameHex = 32;
constexpr double kMaxBytes = double(1ull << 32);  // 4 GiB: far beyond any ring, small enough to catch nonsense

std::string errno_text(int e) { return std::string(strerror(e)) + " (errno " + std::to_string(e) + ")"; }

size_t segment_bytes(const Napi::Value& v, const char* where) {
  double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : -1;
  if (!(d >= 1 && d <= kMaxBytes) || d != double(size_t(d)))
    fail("E_ARGUMENT", std::string(where) + ": the segment size must be an integer from 1 to 2^32 bytes");
  return size_t(d);
}

// Only names this file makes: "/kiln-" and 32 hex digits (so open() cannot be aimed at other objects).
std::string segment_name(const Napi::Value& v, const char* where) {
  std::string s = v.IsString() ? v.As<Napi::String>().Utf8Value() : "";
  bool ok = s.size() == strlen(kPrefix) + kNameHex && s.compare(0, strlen(kPrefix), kPrefix) == 0;
  for (size_t i = strlen(kPrefix); ok && i < s.size(); ++i) ok = isxdigit((unsigned char)s[i]) && !isupper((unsigned char)s[i]);
  if (!ok) fail("E_ARGUMENT", std::string(where) + ": not a Kiln segment name: \"" + s + "\"");
  return s;
}

// Maps fd's first `bytes` and returns them as an ArrayBuffer that unmaps itself when collected.
Napi::ArrayBuffer map_segment(Napi::Env env, int fd, size_t bytes, const std::string& name) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int e = errno;
  close(fd);
  if (p == MAP_FAILED) fail("E_OOM", "shared memory: cannot map " + std::to_string(bytes) + " bytes of " + name + ": " + errno_text(e));
  return Napi::ArrayBuffer::New(env, p, bytes, [](Napi::Env, void* data, size_t* len) {
    munmap(data, *len);
    delete len;
  }, new size_t(bytes));
}

}  // namespace

// create(bytes) -> { name, buffer }: a new segment of `bytes`, every page reserved, mode 0600.
Napi::Value create(const Napi::CallbackInfo& info) {
  size_t bytes = segment_bytes(info[0], "shm.create");
  unsigned char rnd[kNameHex / 2];
  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd) fail("E_NATIVE", "shared memory: getrandom failed: " + errno_text(errno));
  std::string name = kPrefix;
  for (unsigned char c : rnd) {
    name += "0123456789abcdef"[c >> 4];
    name += "0123456789abcdef"[c & 15];
  }
  int fd = shm_open(name.c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) fail("E_UNSUPPORTED", "shared memory: cannot create " + name + ": " + errno_text(errno));
  int e = posix_fallocate(fd, 0, off_t(bytes));
  if (e != 0) {
    close(fd);
    shm_unlink(name.c_str());
    fail("E_OOM", "shared memory: cannot reserve " + std::to_string(bytes) + " bytes for " + name + " (is /dev/shm full or small?): " + errno_text(e));
  }
  Napi::ArrayBuffer buffer;
  try {
    buffer = map_segment(info.Env(), fd, bytes, name);
  } catch (...) {
    shm_unlink(name.c_str());
    throw;
  }
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("name", name);
  out.Set("buffer", buffer);
  return out;
}

// open(name, bytes) -> ArrayBuffer: an existing segment of this user, which must be exactly `bytes` long.
Napi::Value open(const Napi::CallbackInfo& info) {
  std::string name = segment_name(info[0], "shm.open");
  size_t bytes = segment_bytes(info[1], "shm.open");
  int fd = shm_open(name.c_str(), O_RDWR, 0);
  if (fd < 0) fail("E_UNSUPPORTED", "shared memory: cannot open " + name + ": " + errno_text(errno));
  struct stat st{};
  if (fstat(fd, &st) != 0 || st.st_uid != geteuid() || size_t(st.st_size) != bytes) {
    close(fd);
    fail("E_UNSUPPORTED", "shared memory: " + name + " is not a segment of " + std::to_string(bytes) + " bytes owned by this user");
  }
  return map_segment(info.Env(), fd, bytes, name);
}

// unlink(name): removes the name (mappings stay valid); a name already gone is not an error.
Napi::Value unlink(const Napi::CallbackInfo& info) {
  std::string name = segment_name(info[0], "shm.unlink");
  if (shm_unlink(name.c_str()) != 0 && errno != ENOENT) fail("E_NATIVE", "shared memory: cannot remove " + name + ": " + errno_text(errno));
  return info.Env().Undefined();
}

}  // namespace shm_api
}  // namespace kiln
