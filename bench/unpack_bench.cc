// Layer unpack throughput (ImageStore::ingestLayer: hash + spool + unpack),
// for a plain and a gzip layer tar of realistic shape (many small files and
// some large ones). Reports bytes/s of uncompressed tar.
//
//   build/bin/arca-unpack-bench [--benchmark_min_time=2]
#include <archive.h>
#include <archive_entry.h>
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "runtime/image/image_store.h"

namespace {

// ~96 MiB: 2000 files of 16 KiB, 200 of 256 KiB, 4 of 8 MiB; random bytes
// (incompressible, the worst case for gzip).
std::string makeTar(bool gzip) {
  archive* a = archive_write_new();
  archive_write_set_format_pax_restricted(a);
  if (gzip) archive_write_add_filter_gzip(a);
  archive_write_set_bytes_in_last_block(a, 1);
  std::string out;
  archive_write_open(
      a, &out, nullptr,
      [](archive*, void* ctx, const void* buf, size_t n) -> la_ssize_t {
        static_cast<std::string*>(ctx)->append(static_cast<const char*>(buf), n);
        return static_cast<la_ssize_t>(n);
      },
      nullptr);
  std::mt19937_64 rng(42);
  auto add = [&](const std::string& name, size_t size) {
    std::string data(size, '\0');
    for (size_t i = 0; i + 8 <= size; i += 8) {
      uint64_t v = rng();
      std::memcpy(&data[i], &v, 8);
    }
    archive_entry* e = archive_entry_new();
    archive_entry_set_pathname(e, name.c_str());
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_entry_set_size(e, static_cast<la_int64_t>(size));
    archive_write_header(a, e);
    archive_write_data(a, data.data(), data.size());
    archive_entry_free(e);
  };
  archive_entry* d = archive_entry_new();
  for (const char* dir : {"small", "medium", "large"}) {
    archive_entry_set_pathname(d, dir);
    archive_entry_set_filetype(d, AE_IFDIR);
    archive_entry_set_perm(d, 0755);
    archive_write_header(a, d);
    archive_entry_clear(d);
  }
  archive_entry_free(d);
  for (int i = 0; i < 2000; ++i) add("small/f" + std::to_string(i), 16 * 1024);
  for (int i = 0; i < 200; ++i) add("medium/f" + std::to_string(i), 256 * 1024);
  for (int i = 0; i < 4; ++i) add("large/f" + std::to_string(i), 8 * 1024 * 1024);
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

void ingest(benchmark::State& state, bool gzip) {
  const std::string plain = makeTar(false);
  const std::string blob = gzip ? makeTar(true) : plain;
  char tmpl[] = "/tmp/arca-unpack-bench-XXXXXX";
  std::string root = ::mkdtemp(tmpl);
  for (auto _ : state) {
    state.PauseTiming();
    std::filesystem::remove_all(root + "/store");
    auto store = arca::image::ImageStore::create(root + "/store");
    if (!store.ok()) {
      state.SkipWithError(store.status().toString().c_str());
      break;
    }
    size_t off = 0;
    arca::image::ReadFn in = [&](char* buf, size_t len) -> long {
      size_t k = std::min(len, blob.size() - off);
      std::memcpy(buf, blob.data() + off, k);
      off += k;
      return static_cast<long>(k);
    };
    state.ResumeTiming();
    auto layer = (*store)->ingestLayer(in, "", "", -1, "", nullptr);
    if (!layer.ok()) {
      state.SkipWithError(layer.status().toString().c_str());
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(plain.size()));
  std::filesystem::remove_all(root);
}

void BM_IngestPlainLayer(benchmark::State& state) { ingest(state, false); }
void BM_IngestGzipLayer(benchmark::State& state) { ingest(state, true); }

BENCHMARK(BM_IngestPlainLayer)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_IngestGzipLayer)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
