#include "store/open_storage.hpp"

#include "crypto/crypto.hpp"
#include "store/sqlite/sqlite_store.hpp"

namespace caremail {

Result<Storage> open_storage(const Config& cfg, Clock clock) {
  auto key = crypto::load_or_create_key(cfg.key_file());
  if (!key) return key.error();
  auto store = open_sqlite_store({cfg.db_file(), cfg.storage.group_commit_max_batch, std::move(clock)});
  if (!store) return store.error();
  auto blobs = FsBlobStore::open(cfg.blob_dir(), cfg.storage.encrypt_blobs ? std::optional(*key) : std::nullopt);
  if (!blobs) return blobs.error();
  FsBlobStore* blob_ptr = blobs->get();
  (*store)->set_pre_commit_hook([blob_ptr] { return blob_ptr->sync(); });
  // Small messages' blobs live with their message rows (NewMessage::inline_blob). The
  // Storage keeps the store alive for as long as the blob store.
  Store* store_ptr = store->get();
  blob_ptr->set_inline_reader([store_ptr](std::string_view id) { return store_ptr->inline_blob(id); });
  return Storage{std::move(store).value(), std::move(blobs).value()};
}

}  // namespace caremail
