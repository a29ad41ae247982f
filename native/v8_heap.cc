/*
 * Giving V8's spare heap back to the system after a burst of logins.
 *
 * Why this file is C++: the one call it makes, Isolate::LowMemoryNotification,
 * is V8's own API and is reachable neither from JavaScript nor through N-API.
 * A burst of logins grows V8's young generation to its maximum (32 MiB here)
 * and promotes whatever was in flight at each scavenge; once the burst is
 * over nothing shrinks it again until V8's memory reducer happens to run,
 * which it may not do for minutes. This call runs the same full, compacting
 * collection the memory reducer would, shrinks the young generation to its
 * minimum and returns the freed pages (docs/performance.md, "V8's share").
 * JavaScript decides when (src/gateway/heap-release.ts); this only acts.
 *
 * Ownership: nothing is allocated here. The isolate is Node's.
 */
#include <node_api.h>
#include <v8.h>

extern "C" napi_value iamdb_js_release_heap(napi_env env, napi_callback_info info) {
  (void)env;
  (void)info;
  // N-API calls run on the JS thread of the env's isolate: the current one.
  v8::Isolate *isolate = v8::Isolate::GetCurrent();
  if (isolate != nullptr) isolate->LowMemoryNotification();
  return nullptr;
}
