// A minimal keep-alive HTTP/1.1 load client over a unix socket, used by
// bench/run.sh to measure arcad and a reference dockerd the same way.
//   arca-http-client-bench --socket S --path /_ping [--method GET] [--requests N]
// Prints one JSON line: {"path":..,"requests":N,"seconds":..,"rps":..,"p50_us":..,"p99_us":..}
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

int connectUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  strncpy(a.sun_path, path.c_str(), sizeof a.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    perror("connect");
    exit(1);
  }
  return fd;
}

// Reads one response (Content-Length or chunked). Returns false on EOF/error.
bool readResponse(int fd, std::string& buf, bool head) {
  for (;;) {
    size_t hend = buf.find("\r\n\r\n");
    if (hend != std::string::npos) {
      std::string h = buf.substr(0, hend);
      for (auto& c : h) c = static_cast<char>(tolower(c));
      size_t body = hend + 4;
      auto cl = h.find("content-length:");
      if (cl != std::string::npos || head) {
        size_t n = head ? 0 : std::strtoul(h.c_str() + cl + 15, nullptr, 10);
        if (buf.size() >= body + n) {
          buf.erase(0, body + n);
          return true;
        }
      } else if (h.find("chunked") != std::string::npos) {
        size_t end = buf.find("\r\n0\r\n\r\n", body - 2);
        if (end != std::string::npos) {
          buf.erase(0, end + 7);
          return true;
        }
      } else {
        buf.erase(0, body);
        return true;
      }
    }
    char tmp[65536];
    ssize_t r = read(fd, tmp, sizeof tmp);
    if (r <= 0) return false;
    buf.append(tmp, static_cast<size_t>(r));
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string sock, path = "/_ping", method = "GET";
  long n = 20000;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--socket") sock = v;
    else if (k == "--path") path = v;
    else if (k == "--method") method = v;
    else if (k == "--requests") n = std::atol(v.c_str());
  }
  if (sock.empty()) {
    fprintf(stderr, "usage: %s --socket S [--path P] [--method M] [--requests N]\n", argv[0]);
    return 2;
  }
  int fd = connectUnix(sock);
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: api.moby.localhost\r\nUser-Agent: arca-bench\r\n\r\n";
  std::vector<double> lat;
  lat.reserve(static_cast<size_t>(n));
  std::string buf;
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < n; ++i) {
    auto s = std::chrono::steady_clock::now();
    if (write(fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) return 1;
    if (!readResponse(fd, buf, method == "HEAD")) {
      fprintf(stderr, "connection closed after %ld requests\n", i);
      return 1;
    }
    lat.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - s).count());
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::sort(lat.begin(), lat.end());
  printf("{\"path\":\"%s\",\"requests\":%ld,\"seconds\":%.3f,\"rps\":%.0f,\"p50_us\":%.0f,\"p99_us\":%.0f}\n",
         path.c_str(), n, secs, n / secs, lat[lat.size() / 2], lat[lat.size() * 99 / 100]);
  close(fd);
  return 0;
}
