// docker pull / docker push: the registry client (runtime/registry) and the
// image store (runtime/image) together, speaking Docker's progress stream.
//
// Neither touches the event log: the API layer records what they return
// (ImageLoaded{action:"pull"}, ImagePushed) and holds an ImageTransfer so
// garbage collection never removes layers of a pull in flight.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "engine/status.h"
#include "eventlog/events.pb.h"
#include "runtime/distribution/progress.h"
#include "runtime/image/image_store.h"
#include "runtime/image/reference.h"
#include "runtime/registry/client.h"
#include "runtime/registry/manifest.h"

namespace arca::distribution {

struct TransferOptions {
  registry::AuthConfig auth;
  registry::RegistryOptions registry;
  registry::Platform platform;      // the wanted platform (the host's when not given)
  bool platform_given = false;      // --platform was set: a single-platform image must match
  int max_concurrent = 3;           // parallel layer downloads / uploads (Docker: 3 / 5)
  const std::atomic<bool>* cancel = nullptr;  // stops the transfer when set
};

struct PullResult {
  // The image as it should be recorded: repo_tags {ref} for a tag pull,
  // repo_digests {"<name>@<manifest digest>"}.
  v1::ImageRecord record;
  std::string digest;  // the manifest (or index) digest the reference resolved to
};

// Pulls `ref` (normalized: tag or digest set) into `store`. Emits the
// messages from "Pulling from ..." to "Digest: ..."; the caller adds the
// final "Status: ..." line. Layers present already are not fetched; missing
// ones download `max_concurrent` at a time and unpack as they arrive. On
// any error nothing partial is kept (see ImageStore::ingestLayer).
StatusOr<PullResult> pull(image::ImageStore& store, const image::Reference& ref,
                          const TransferOptions& opts, Progress& progress);

struct PushResult {
  std::string digest;  // of the manifest pushed
  int64_t size = 0;    // of the manifest pushed
};

// Pushes `image` as `ref` (a tag). Layers the registry has are skipped,
// layers known in another repository of the same registry are mounted, the
// rest upload `max_concurrent` at a time (compressed with gzip when the store
// has no compressed blob for them). Emits Docker's push messages, the final
// "<tag>: digest: ... size: N" line and the aux {"Tag","Digest","Size"}.
StatusOr<PushResult> push(image::ImageStore& store, const v1::ImageRecord& image,
                          const image::Reference& ref, const TransferOptions& opts,
                          Progress& progress);

}  // namespace arca::distribution
