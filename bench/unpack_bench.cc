// Layer unpack throughput (ImageStore::ingestLayer: hash + spool + unpack),
// for a plain and a gzip layer tar of realistic shape (many small files and
// some large ones). Reports bytes/s of uncompressed tar.
//
//   build/bin/arca-unpack-bench [--benchmark_min_time=2]
#include <archive.h>
#include <archive_entry.h>
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>

#include "runtime/image/image_store.h"

namespace {

// kMany: ~96 MiB in 2000 files of 16 KiB, 200 of 256 KiB, 4 of 8 MiB.
// kOne: one 100 MiB file (the shape of the reference measurement).
// Random bytes: incompressible, the worst case for gzip.
enum class Shape { kMany, kOne };

std::string makeTar(bool gzip, Shape shape) {
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
  if (shape == Shape::kOne) {
    add("large/blob.bin", 100 * 1024 * 1024);
  } else {
    for (int i = 0; i < 2000; ++i) add("small/f" + std::to_string(i), 16 * 1024);
    for (int i = 0; i < 200; ++i) add("medium/f" + std::to_string(i), 256 * 1024);
    for (int i = 0; i < 4; ++i) add("large/f" + std::to_string(i), 8 * 1024 * 1024);
  }
  archive_write_close(a);
  archive_write_free(a);
  return out;
}

// The store lives under $ARCA_BENCH_DIR (default /var/tmp: the disk; /dev/shm
// shows the cost without the filesystem).
void ingest(benchmark::State& state, bool gzip, Shape shape) {
  const std::string plain = makeTar(false, shape);
  const std::string blob = gzip ? makeTar(true, shape) : plain;
  const char* base = std::getenv("ARCA_BENCH_DIR");
  std::string tmpl = std::string(base ? base : "/var/tmp") + "/arca-unpack-bench-XXXXXX";
  std::string root = ::mkdtemp(tmpl.data());
  int n = 0;
  for (auto _ : state) {
    state.PauseTiming();
    // A fresh store each time; removal waits for the end (ext4 slows inode
    // allocation right after mass deletions, which a pull does not do).
    auto store = arca::image::ImageStore::create(root + "/store" + std::to_string(n++));
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

void BM_IngestPlainManyFiles(benchmark::State& state) { ingest(state, false, Shape::kMany); }
void BM_IngestGzipManyFiles(benchmark::State& state) { ingest(state, true, Shape::kMany); }
void BM_IngestPlainOneFile(benchmark::State& state) { ingest(state, false, Shape::kOne); }
void BM_IngestGzipOneFile(benchmark::State& state) { ingest(state, true, Shape::kOne); }

BENCHMARK(BM_IngestPlainManyFiles)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_IngestGzipManyFiles)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_IngestPlainOneFile)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_IngestGzipOneFile)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
