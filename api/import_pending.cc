// Placeholder until docker import lands (replaced by api/image_handlers.cc's importImage).
#include "api/api.h"

namespace arca::api {
void importImage(ApiContext&, Request&, ResponseWriter& w) {
  sendError(w, NotImplemented("docker import is not implemented yet"));
}
}  // namespace arca::api
