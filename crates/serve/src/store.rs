//! The persistent key store: evaluation keys uploaded by clients, in an embedded ACID
//! key-value store (`redb`, a pure-Rust copy-on-write B-tree), so keys survive restarts.
//!
//! Two tables: `key_meta_v2` (id → model, owner, creation and expiry times, size, the SHA-256
//! of the access token and of the key blob, and a SHA-256 over the record itself; small,
//! scanned to enforce limits) and `key_blobs_v2` (id → the validated upload bytes).
//!
//! * **Limits**: a number of keys, a number of keys per client (by peer address), a total of
//!   live key bytes, a time to live per key (an expired key is treated as absent and purged on
//!   the next write or on [`KeyStore::purge_expired`]), and a limit on the size of the redb
//!   **file** itself: the file sits on a storage backend that refuses to grow it past
//!   [`StoreLimits::max_file_bytes`]. redb grows its file in steps (doubling while small), so
//!   an upload whose growth step would pass the limit is refused (507) after one compaction
//!   and retry; deletions compact the file when it holds much more than its live keys.
//! * **Ownership**: an upload returns a key id (128 random bits) and a secret access token
//!   (256 random bits, both from the OS CSPRNG); only the token's SHA-256 is stored, compared in
//!   constant time ([`KeyStore::authorize`]).
//! * **Integrity**: every blob's SHA-256 is checked when it is loaded; a record or blob that
//!   fails its check is reported, removed and never used ([`ServeError::CorruptKey`]).

use std::fs::OpenOptions;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::backends::FileBackend;
use redb::{
    BackendError, Database, ReadableDatabase, ReadableTable, StorageBackend, TableDefinition,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{ServeError, ServeResult};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("key_meta_v2");
const BLOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("key_blobs_v2");
/// Tables of the first store format (no tokens, no checksums): dropped on open.
const OLD_META: TableDefinition<&str, &[u8]> = TableDefinition::new("key_meta_v1");
const OLD_BLOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("key_blobs_v1");

/// Limits of the key store.
#[derive(Clone, Debug)]
pub struct StoreLimits {
    /// Most keys stored at once.
    pub max_keys: usize,
    /// Most keys stored at once for one client (peer address).
    pub max_keys_per_client: usize,
    /// Most bytes of live keys stored at once.
    pub max_total_bytes: u64,
    /// Largest size of the store file on disk (redb's pages, free space and metadata
    /// included); the file never grows past it.
    pub max_file_bytes: u64,
    /// Time to live of a key (at least one second).
    pub ttl: Duration,
}

impl Default for StoreLimits {
    /// 64 keys, 8 per client, 2 GiB of keys in a file of at most 4 GiB, 7 days.
    fn default() -> Self {
        Self {
            max_keys: 64,
            max_keys_per_client: 8,
            max_total_bytes: 2 << 30,
            max_file_bytes: 4 << 30,
            ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// What the store knows about a key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyRecord {
    /// Key id.
    pub id: String,
    /// Model the keys were made for.
    pub model: String,
    /// The uploading client: a short hash of its address ([`client_tag`]).
    pub owner: String,
    /// Creation time, seconds since the Unix epoch.
    pub created: u64,
    /// Expiry time, seconds since the Unix epoch.
    pub expires: u64,
    /// Size of the stored keys in bytes.
    pub bytes: u64,
    token_hash: [u8; 32],
    blob_hash: [u8; 32],
}

const RECORD_VERSION: u8 = 2;

fn sha256(b: &[u8]) -> [u8; 32] {
    Sha256::digest(b).into()
}

impl KeyRecord {
    fn encode(&self) -> Vec<u8> {
        let mut v = vec![RECORD_VERSION];
        v.extend_from_slice(&self.created.to_le_bytes());
        v.extend_from_slice(&self.expires.to_le_bytes());
        v.extend_from_slice(&self.bytes.to_le_bytes());
        v.extend_from_slice(&self.token_hash);
        v.extend_from_slice(&self.blob_hash);
        let owner = self.owner.as_bytes();
        v.push(owner.len() as u8);
        v.extend_from_slice(owner);
        v.extend_from_slice(self.model.as_bytes());
        let check = sha256(&v);
        v.extend_from_slice(&check);
        v
    }

    /// Decodes a record; `None` when it fails its checksum or layout.
    fn decode(id: &str, b: &[u8]) -> Option<Self> {
        let (body, check) = b.split_at_checked(b.len().checked_sub(32)?)?;
        if sha256(body).ct_eq(check).unwrap_u8() != 1 || body.first() != Some(&RECORD_VERSION) {
            return None;
        }
        let u = |i: usize| -> Option<u64> {
            Some(u64::from_le_bytes(body.get(i..i + 8)?.try_into().ok()?))
        };
        let hash = |i: usize| -> Option<[u8; 32]> { body.get(i..i + 32)?.try_into().ok() };
        let owner_len = *body.get(89)? as usize;
        let owner = std::str::from_utf8(body.get(90..90 + owner_len)?).ok()?;
        let model = std::str::from_utf8(body.get(90 + owner_len..)?).ok()?;
        Some(Self {
            id: id.to_string(),
            created: u(1)?,
            expires: u(9)?,
            bytes: u(17)?,
            token_hash: hash(25)?,
            blob_hash: hash(57)?,
            owner: owner.to_string(),
            model: model.to_string(),
        })
    }

    fn expired(&self, now: u64) -> bool {
        now >= self.expires
    }
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn store_err(e: impl std::fmt::Display) -> ServeError {
    ServeError::Store(e.to_string())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `id` looks like a key id (32 lowercase hex digits).
pub fn valid_key_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Whether `token` looks like an access token (64 lowercase hex digits).
pub fn valid_token(token: &str) -> bool {
    token.len() == 64
        && token
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A short, non-reversible tag of a key id for logs (the first 8 hex digits of its SHA-256):
/// ids are credentials' halves and are never logged themselves.
pub fn key_tag(id: &str) -> String {
    hex(&sha256(id.as_bytes())[..4])
}

/// A short tag of a client address (the first 16 hex digits of its SHA-256): what the store
/// keeps to count keys per client.
pub fn client_tag(addr: &std::net::IpAddr) -> String {
    hex(&sha256(addr.to_string().as_bytes())[..8])
}

/// The file backend under redb that refuses to grow the file past a limit (see the module
/// docs). A refusal poisons the open database (redb latches I/O errors); the store then
/// reopens it, which recovers the last committed state.
#[derive(Debug)]
struct CappedFile {
    inner: FileBackend,
    limit: u64,
    refused: Arc<AtomicBool>,
}

impl StorageBackend for CappedFile {
    fn len(&self) -> Result<u64, std::io::Error> {
        self.inner.len()
    }
    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), std::io::Error> {
        self.inner.read(offset, out)
    }
    fn set_len(&self, len: u64) -> Result<(), std::io::Error> {
        if len > self.limit {
            self.refused.store(true, Ordering::SeqCst);
            return Err(std::io::Error::other(format!(
                "the key store file may not grow past {} bytes",
                self.limit
            )));
        }
        self.inner.set_len(len)
    }
    fn sync_data(&self) -> Result<(), std::io::Error> {
        self.inner.sync_data()
    }
    fn write(&self, offset: u64, data: &[u8]) -> Result<(), std::io::Error> {
        if offset.saturating_add(data.len() as u64) > self.limit {
            self.refused.store(true, Ordering::SeqCst);
            return Err(std::io::Error::other("write past the key store file limit"));
        }
        self.inner.write(offset, data)
    }
    fn close(&self) -> Result<(), std::io::Error> {
        self.inner.close()
    }
    fn try_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_range(s, e)
    }
    fn try_lock_shared_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.try_lock_shared_range(s, e)
    }
    fn lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_range(s, e)
    }
    fn lock_shared_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.inner.lock_shared_range(s, e)
    }
    fn unlock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<(), BackendError> {
        self.inner.unlock_range(s, e)
    }
    fn query_lock_range(&self, s: Bound<u64>, e: Bound<u64>) -> Result<bool, BackendError> {
        self.inner.query_lock_range(s, e)
    }
}

/// A new key's credentials, returned once by [`KeyStore::insert`].
#[derive(Clone)]
pub struct NewKey {
    /// The stored record.
    pub record: KeyRecord,
    /// The secret access token (64 hex digits); only its hash is stored.
    pub token: zeroize::Zeroizing<String>,
}

impl std::fmt::Debug for NewKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewKey")
            .field("key", &key_tag(&self.record.id))
            .finish_non_exhaustive()
    }
}

/// The key store (see the module docs).
pub struct KeyStore {
    path: PathBuf,
    /// Reads and writes share the lock (redb serializes writers itself); compaction and
    /// reopening take it exclusively.
    db: RwLock<Option<Database>>,
    refused: Arc<AtomicBool>,
    limits: StoreLimits,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("path", &self.path)
            .field("limits", &self.limits)
            .finish()
    }
}

impl KeyStore {
    /// Opens (or creates) the store at `path` and purges expired keys.
    pub fn open(path: &Path, limits: StoreLimits) -> ServeResult<Self> {
        if limits.ttl.is_zero() {
            return Err(ServeError::BadRequest(
                "the key time to live must be at least one second".into(),
            ));
        }
        let refused = Arc::new(AtomicBool::new(false));
        let db = Self::open_db(path, &limits, &refused)?;
        let store = Self {
            path: path.to_path_buf(),
            db: RwLock::new(Some(db)),
            refused,
            limits,
        };
        let purged = store.purge_expired()?;
        if purged > 0 {
            tracing::info!(purged, "expired keys purged");
        }
        Ok(store)
    }

    fn open_db(
        path: &Path,
        limits: &StoreLimits,
        refused: &Arc<AtomicBool>,
    ) -> ServeResult<Database> {
        let at = |e: &dyn std::fmt::Display| ServeError::Store(format!("{}: {e}", path.display()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map_err(|e| at(&e))?;
        let len = file.metadata().map_err(|e| at(&e))?.len();
        if len > limits.max_file_bytes {
            return Err(ServeError::Store(format!(
                "{}: the file has {len} bytes, over its limit of {} bytes",
                path.display(),
                limits.max_file_bytes
            )));
        }
        refused.store(false, Ordering::SeqCst);
        let backend = CappedFile {
            inner: FileBackend::new(file).map_err(|e| at(&e))?,
            limit: limits.max_file_bytes,
            refused: refused.clone(),
        };
        let db = Database::builder()
            .create_with_backend(backend)
            .map_err(|e| at(&e))?;
        let tx = db.begin_write().map_err(store_err)?;
        tx.delete_table(OLD_META).map_err(store_err)?;
        tx.delete_table(OLD_BLOBS).map_err(store_err)?;
        tx.open_table(META).map_err(store_err)?;
        tx.open_table(BLOBS).map_err(store_err)?;
        tx.commit().map_err(store_err)?;
        Ok(db)
    }

    /// The limits.
    pub fn limits(&self) -> &StoreLimits {
        &self.limits
    }

    /// The store file's size on disk.
    pub fn file_bytes(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// Runs `f` on the open database (shared lock).
    fn with_db<T>(&self, f: impl FnOnce(&Database) -> ServeResult<T>) -> ServeResult<T> {
        let guard = self.db.read().unwrap_or_else(|e| e.into_inner());
        let db = guard
            .as_ref()
            .ok_or_else(|| ServeError::Store("the key store is closed".into()))?;
        f(db)
    }

    /// Reopens the database after the file cap refused a growth (the open handle is poisoned)
    /// and compacts it; `compact` alone compacts the open database.
    fn reopen_and_compact(&self, reopen: bool) -> ServeResult<()> {
        let mut guard = self.db.write().unwrap_or_else(|e| e.into_inner());
        if reopen {
            drop(guard.take());
            *guard = Some(Self::open_db(&self.path, &self.limits, &self.refused)?);
            tracing::warn!("key store reopened after refusing to grow past its file limit");
        }
        if let Some(db) = guard.as_mut() {
            let before = std::fs::metadata(&self.path).map_or(0, |m| m.len());
            match db.compact() {
                Ok(_) => {}
                Err(e) if self.refused.load(Ordering::SeqCst) => {
                    drop(guard.take());
                    *guard = Some(Self::open_db(&self.path, &self.limits, &self.refused)?);
                    tracing::warn!(error = %e, "compaction hit the file limit; store reopened");
                }
                Err(e) => return Err(store_err(e)),
            }
            let after = std::fs::metadata(&self.path).map_or(0, |m| m.len());
            tracing::debug!(before, after, "key store compacted");
        }
        Ok(())
    }

    fn all_meta(
        table: &impl ReadableTable<&'static str, &'static [u8]>,
    ) -> ServeResult<(Vec<KeyRecord>, Vec<String>)> {
        let mut good = Vec::new();
        let mut corrupt = Vec::new();
        for entry in table.iter().map_err(store_err)? {
            let (k, v) = entry.map_err(store_err)?;
            match KeyRecord::decode(k.value(), v.value()) {
                Some(r) => good.push(r),
                None => corrupt.push(k.value().to_string()),
            }
        }
        Ok((good, corrupt))
    }

    /// Removes expired keys and records that fail their checksum; returns how many.
    pub fn purge_expired(&self) -> ServeResult<usize> {
        let now = now_secs();
        let purged = self.with_db(|db| {
            let tx = db.begin_write().map_err(store_err)?;
            let purged = {
                let mut meta = tx.open_table(META).map_err(store_err)?;
                let mut blobs = tx.open_table(BLOBS).map_err(store_err)?;
                let (records, corrupt) = Self::all_meta(&meta)?;
                for id in &corrupt {
                    tracing::error!(key = %key_tag(id), "corrupt key record removed");
                }
                let gone: Vec<String> = records
                    .into_iter()
                    .filter(|r| r.expired(now))
                    .map(|r| r.id)
                    .chain(corrupt)
                    .collect();
                for id in &gone {
                    meta.remove(id.as_str()).map_err(store_err)?;
                    blobs.remove(id.as_str()).map_err(store_err)?;
                }
                gone.len()
            };
            tx.commit().map_err(store_err)?;
            Ok(purged)
        })?;
        if purged > 0 {
            self.compact_if_sparse()?;
        }
        Ok(purged)
    }

    /// Compacts when the file is much larger than its live keys (after deletions).
    fn compact_if_sparse(&self) -> ServeResult<()> {
        let (_, live) = self.usage()?;
        if self.file_bytes() > 2 * live + (4 << 20) {
            self.reopen_and_compact(false)?;
        }
        Ok(())
    }

    /// Stores validated keys for `model` uploaded by the client `owner` ([`client_tag`]);
    /// returns the record and the new access token. Refuses (507) when the store would exceed
    /// its number, per-client, byte or file-size limit (after purging expired keys and, for
    /// the file, one compaction).
    pub fn insert(&self, model: &str, owner: &str, bytes: &[u8]) -> ServeResult<NewKey> {
        match self.try_insert(model, owner, bytes) {
            Err(_) if self.refused.load(Ordering::SeqCst) => {
                self.reopen_and_compact(true)?;
                match self.try_insert(model, owner, bytes) {
                    Err(_) if self.refused.load(Ordering::SeqCst) => {
                        self.reopen_and_compact(true)?;
                        Err(ServeError::StoreFull(format!(
                            "storing {} more bytes would grow the store file past its limit of \
                             {} bytes",
                            bytes.len(),
                            self.limits.max_file_bytes
                        )))
                    }
                    other => other,
                }
            }
            other => other,
        }
    }

    fn try_insert(&self, model: &str, owner: &str, bytes: &[u8]) -> ServeResult<NewKey> {
        let now = now_secs();
        let id = hex(&henn_ring::sampler::fresh_seed()[..16]);
        let token = zeroize::Zeroizing::new(hex(&henn_ring::sampler::fresh_seed()));
        let record = KeyRecord {
            id,
            model: model.to_string(),
            owner: owner.to_string(),
            created: now,
            expires: now.saturating_add(self.limits.ttl.as_secs()),
            bytes: bytes.len() as u64,
            token_hash: sha256(token.as_bytes()),
            blob_hash: sha256(bytes),
        };
        self.with_db(|db| {
            let tx = db.begin_write().map_err(store_err)?;
            {
                let mut meta = tx.open_table(META).map_err(store_err)?;
                let mut blobs = tx.open_table(BLOBS).map_err(store_err)?;
                let (records, corrupt) = Self::all_meta(&meta)?;
                let mut live = Vec::new();
                for r in records {
                    if r.expired(now) {
                        meta.remove(r.id.as_str()).map_err(store_err)?;
                        blobs.remove(r.id.as_str()).map_err(store_err)?;
                    } else {
                        live.push(r);
                    }
                }
                for id in corrupt {
                    meta.remove(id.as_str()).map_err(store_err)?;
                    blobs.remove(id.as_str()).map_err(store_err)?;
                }
                let total: u64 = live.iter().map(|r| r.bytes).sum();
                if live.len() >= self.limits.max_keys {
                    return Err(ServeError::StoreFull(format!(
                        "{} keys stored, the limit is {}; delete keys first",
                        live.len(),
                        self.limits.max_keys
                    )));
                }
                let mine = live.iter().filter(|r| r.owner == owner).count();
                if mine >= self.limits.max_keys_per_client {
                    return Err(ServeError::QuotaExceeded(format!(
                        "this client has {mine} keys stored, the limit is {}; delete keys first",
                        self.limits.max_keys_per_client
                    )));
                }
                if total + record.bytes > self.limits.max_total_bytes {
                    return Err(ServeError::StoreFull(format!(
                        "{total} + {} bytes exceeds the limit of {} bytes",
                        record.bytes, self.limits.max_total_bytes
                    )));
                }
                meta.insert(record.id.as_str(), record.encode().as_slice())
                    .map_err(store_err)?;
                blobs.insert(record.id.as_str(), bytes).map_err(store_err)?;
            }
            tx.commit().map_err(store_err)?;
            Ok(())
        })?;
        Ok(NewKey { record, token })
    }

    /// The record of a live (stored, unexpired) key; a record failing its checksum is removed
    /// and reported as [`ServeError::CorruptKey`].
    pub fn record(&self, id: &str) -> ServeResult<Option<KeyRecord>> {
        let found = self.with_db(|db| {
            let tx = db.begin_read().map_err(store_err)?;
            let meta = tx.open_table(META).map_err(store_err)?;
            let Some(v) = meta.get(id).map_err(store_err)? else {
                return Ok(None);
            };
            Ok(Some(KeyRecord::decode(id, v.value())))
        })?;
        match found {
            None => Ok(None),
            Some(None) => Err(self.remove_corrupt(id, "record")),
            Some(Some(r)) => Ok((!r.expired(now_secs())).then_some(r)),
        }
    }

    /// The record of `id` if `token` is its access token: 401 for a missing or malformed
    /// token, 404 for an unknown or expired key, 403 for a wrong token.
    pub fn authorize(&self, id: &str, token: Option<&str>) -> ServeResult<KeyRecord> {
        let token = token.ok_or_else(|| {
            ServeError::Unauthorized("an access token is required (authorization: Bearer)".into())
        })?;
        if !valid_token(token) {
            return Err(ServeError::Unauthorized(
                "malformed access token (64 hex digits expected)".into(),
            ));
        }
        let record = self
            .record(id)?
            .ok_or_else(|| ServeError::NotFound("unknown or expired key".into()))?;
        if sha256(token.as_bytes())
            .ct_eq(&record.token_hash)
            .unwrap_u8()
            != 1
        {
            return Err(ServeError::Forbidden(
                "the access token does not match this key".into(),
            ));
        }
        Ok(record)
    }

    fn remove_corrupt(&self, id: &str, what: &str) -> ServeError {
        tracing::error!(key = %key_tag(id), what, "stored key failed its checksum; removed");
        if let Err(e) = self.delete(id) {
            tracing::error!(error = %e, "removing a corrupt key");
        }
        ServeError::CorruptKey(format!(
            "the stored keys failed their integrity check ({what}) and were removed; upload \
             keys again"
        ))
    }

    /// The record and bytes of a live key, the bytes checked against the record's SHA-256
    /// (a mismatch: the key is removed, [`ServeError::CorruptKey`]).
    pub fn get(&self, id: &str) -> ServeResult<Option<(KeyRecord, Vec<u8>)>> {
        let Some(r) = self.record(id)? else {
            return Ok(None);
        };
        let bytes = self.with_db(|db| {
            let tx = db.begin_read().map_err(store_err)?;
            let blobs = tx.open_table(BLOBS).map_err(store_err)?;
            Ok(blobs
                .get(id)
                .map_err(store_err)?
                .map(|v| v.value().to_vec()))
        })?;
        match bytes {
            Some(b) if sha256(&b).ct_eq(&r.blob_hash).unwrap_u8() == 1 => Ok(Some((r, b))),
            Some(_) => Err(self.remove_corrupt(id, "key blob")),
            None => Err(self.remove_corrupt(id, "missing key blob")),
        }
    }

    /// Deletes a key; returns whether it existed. Compacts the file when it has become much
    /// larger than its live keys.
    pub fn delete(&self, id: &str) -> ServeResult<bool> {
        let existed = self.with_db(|db| {
            let tx = db.begin_write().map_err(store_err)?;
            let existed = {
                let mut meta = tx.open_table(META).map_err(store_err)?;
                let mut blobs = tx.open_table(BLOBS).map_err(store_err)?;
                let existed = meta.remove(id).map_err(store_err)?.is_some();
                blobs.remove(id).map_err(store_err)?;
                existed
            };
            tx.commit().map_err(store_err)?;
            Ok(existed)
        })?;
        if existed {
            self.compact_if_sparse()?;
        }
        Ok(existed)
    }

    /// Number and total bytes of live keys.
    pub fn usage(&self) -> ServeResult<(usize, u64)> {
        let now = now_secs();
        self.with_db(|db| {
            let tx = db.begin_read().map_err(store_err)?;
            let meta = tx.open_table(META).map_err(store_err)?;
            let (records, _) = Self::all_meta(&meta)?;
            let live: Vec<KeyRecord> = records.into_iter().filter(|r| !r.expired(now)).collect();
            Ok((live.len(), live.iter().map(|r| r.bytes).sum()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_keys: usize, max_total_bytes: u64, ttl: u64) -> StoreLimits {
        StoreLimits {
            max_keys,
            max_keys_per_client: max_keys,
            max_total_bytes,
            max_file_bytes: 64 << 20,
            ttl: Duration::from_secs(ttl),
        }
    }

    #[test]
    fn keys_survive_reopening_and_can_be_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.redb");
        let (id, token) = {
            let s = KeyStore::open(&path, limits(4, 1000, 3600)).unwrap();
            let k = s.insert("m", "c", b"abc").unwrap();
            assert!(valid_key_id(&k.record.id) && valid_token(&k.token));
            (k.record.id, k.token.to_string())
        };
        let s = KeyStore::open(&path, limits(4, 1000, 3600)).unwrap();
        let (r, bytes) = s.get(&id).unwrap().unwrap();
        assert_eq!((r.model.as_str(), bytes.as_slice()), ("m", &b"abc"[..]));
        assert_eq!(s.usage().unwrap(), (1, 3));
        assert_eq!(s.authorize(&id, Some(&token)).unwrap().id, id);
        assert_eq!(s.authorize(&id, None).unwrap_err().status(), 401);
        assert_eq!(s.authorize(&id, Some("xyz")).unwrap_err().status(), 401);
        let mut wrong = token.clone().into_bytes();
        wrong[0] = if wrong[0] == b'0' { b'1' } else { b'0' };
        let wrong = String::from_utf8(wrong).unwrap();
        assert_eq!(s.authorize(&id, Some(&wrong)).unwrap_err().status(), 403);
        assert!(s.delete(&id).unwrap());
        assert!(!s.delete(&id).unwrap());
        assert!(s.get(&id).unwrap().is_none());
        assert_eq!(s.authorize(&id, Some(&token)).unwrap_err().status(), 404);
    }

    #[test]
    fn limits_are_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let s = KeyStore::open(&dir.path().join("k.redb"), limits(2, 10, 3600)).unwrap();
        s.insert("m", "c", &[0; 4]).unwrap();
        assert!(matches!(
            s.insert("m", "c", &[0; 7]),
            Err(ServeError::StoreFull(_))
        ));
        s.insert("m", "c", &[0; 6]).unwrap();
        assert!(matches!(
            s.insert("m", "c", &[0; 1]),
            Err(ServeError::StoreFull(_))
        ));
    }

    #[test]
    fn per_client_quota() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = limits(8, 1000, 3600);
        l.max_keys_per_client = 2;
        let s = KeyStore::open(&dir.path().join("k.redb"), l).unwrap();
        s.insert("m", "a", b"1").unwrap();
        s.insert("m", "a", b"2").unwrap();
        assert_eq!(s.insert("m", "a", b"3").unwrap_err().status(), 429);
        s.insert("m", "b", b"3").unwrap();
    }

    #[test]
    fn zero_ttl_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(KeyStore::open(&dir.path().join("k.redb"), limits(1, 100, 0)).is_err());
    }

    #[test]
    fn expired_keys_are_absent_and_purged() {
        let dir = tempfile::tempdir().unwrap();
        let s = KeyStore::open(&dir.path().join("k.redb"), limits(1, 100, 1)).unwrap();
        let k = s.insert("m", "c", b"x").unwrap();
        std::thread::sleep(Duration::from_millis(1100));
        assert!(s.record(&k.record.id).unwrap().is_none());
        // The expired key does not count against the limit of one key.
        s.insert("m", "c", b"y").unwrap();
    }

    /// The file never passes its limit, however often large blobs are stored and deleted; an
    /// upload that would need the file to grow past it is refused with 507 and the store
    /// keeps working.
    #[test]
    fn the_file_never_exceeds_its_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.redb");
        let mut l = limits(64, 1 << 40, 3600);
        l.max_file_bytes = 24 << 20;
        let s = KeyStore::open(&path, l).unwrap();
        let blob = vec![7u8; 3 << 20];
        let mut ids = Vec::new();
        let (mut stored, mut refused) = (0, 0);
        for round in 0..40 {
            match s.insert("m", "c", &blob) {
                Ok(k) => {
                    stored += 1;
                    ids.push(k.record.id);
                }
                Err(e) => {
                    assert_eq!(e.status(), 507, "{e}");
                    refused += 1;
                    // Churn: free one key now and then.
                    if round % 3 == 0 && !ids.is_empty() {
                        assert!(s.delete(&ids.remove(0)).unwrap());
                    }
                }
            }
            let len = std::fs::metadata(&path).unwrap().len();
            assert!(len <= 24 << 20, "round {round}: file of {len} bytes");
        }
        assert!(
            stored >= 3 && refused >= 1,
            "stored {stored}, refused {refused}"
        );
        for id in &ids {
            assert_eq!(s.get(id).unwrap().unwrap().1, blob);
        }
    }
}
