//! The persistent key store: evaluation keys uploaded by clients, in an embedded ACID
//! key-value store (`redb`, a pure-Rust copy-on-write B-tree), so keys survive restarts.
//!
//! Two tables: `key_meta_v1` (id → model, creation and expiry times, size; small, scanned to
//! enforce limits) and `key_blobs_v1` (id → the validated upload bytes). Limits: a number of
//! keys and a total size (an upload over either is refused, after expired keys are purged),
//! and a time to live per key (an expired key is treated as absent and purged on the next
//! write or on [`KeyStore::purge_expired`]). Key ids are 128 random bits from the OS CSPRNG,
//! written as 32 lowercase hex digits.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

use crate::error::{ServeError, ServeResult};

const META: TableDefinition<&str, &[u8]> = TableDefinition::new("key_meta_v1");
const BLOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("key_blobs_v1");

/// Limits of the key store.
#[derive(Clone, Debug)]
pub struct StoreLimits {
    /// Most keys stored at once.
    pub max_keys: usize,
    /// Most bytes of keys stored at once.
    pub max_total_bytes: u64,
    /// Time to live of a key.
    pub ttl: Duration,
}

impl Default for StoreLimits {
    /// 64 keys, 2 GiB, 7 days.
    fn default() -> Self {
        Self {
            max_keys: 64,
            max_total_bytes: 2 << 30,
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
    /// Creation time, seconds since the Unix epoch.
    pub created: u64,
    /// Expiry time, seconds since the Unix epoch.
    pub expires: u64,
    /// Size of the stored keys in bytes.
    pub bytes: u64,
}

impl KeyRecord {
    fn encode(&self) -> Vec<u8> {
        let mut v = vec![1u8];
        v.extend_from_slice(&self.created.to_le_bytes());
        v.extend_from_slice(&self.expires.to_le_bytes());
        v.extend_from_slice(&self.bytes.to_le_bytes());
        v.extend_from_slice(self.model.as_bytes());
        v
    }

    fn decode(id: &str, b: &[u8]) -> ServeResult<Self> {
        let bad = || ServeError::Store(format!("corrupt metadata of key {id}"));
        if b.len() < 25 || b[0] != 1 {
            return Err(bad());
        }
        let u = |i: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&b[i..i + 8]);
            u64::from_le_bytes(a)
        };
        Ok(Self {
            id: id.to_string(),
            created: u(1),
            expires: u(9),
            bytes: u(17),
            model: std::str::from_utf8(&b[25..])
                .map_err(|_| bad())?
                .to_string(),
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

/// Whether `id` looks like a key id (32 lowercase hex digits).
pub fn valid_key_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The key store (see the module docs).
pub struct KeyStore {
    db: Database,
    limits: StoreLimits,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("limits", &self.limits)
            .finish()
    }
}

impl KeyStore {
    /// Opens (or creates) the store at `path` and purges expired keys.
    pub fn open(path: &Path, limits: StoreLimits) -> ServeResult<Self> {
        let db = Database::create(path)
            .map_err(|e| ServeError::Store(format!("{}: {e}", path.display())))?;
        let store = Self { db, limits };
        let purged = store.purge_expired()?;
        if purged > 0 {
            tracing::info!(purged, "expired keys purged");
        }
        Ok(store)
    }

    /// The limits.
    pub fn limits(&self) -> &StoreLimits {
        &self.limits
    }

    fn all_meta(
        table: &impl ReadableTable<&'static str, &'static [u8]>,
    ) -> ServeResult<Vec<KeyRecord>> {
        let mut out = Vec::new();
        for entry in table.iter().map_err(store_err)? {
            let (k, v) = entry.map_err(store_err)?;
            out.push(KeyRecord::decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// Removes expired keys; returns how many.
    pub fn purge_expired(&self) -> ServeResult<usize> {
        let now = now_secs();
        let tx = self.db.begin_write().map_err(store_err)?;
        let purged = {
            let mut meta = tx.open_table(META).map_err(store_err)?;
            let mut blobs = tx.open_table(BLOBS).map_err(store_err)?;
            let expired: Vec<String> = Self::all_meta(&meta)?
                .into_iter()
                .filter(|r| r.expired(now))
                .map(|r| r.id)
                .collect();
            for id in &expired {
                meta.remove(id.as_str()).map_err(store_err)?;
                blobs.remove(id.as_str()).map_err(store_err)?;
            }
            expired.len()
        };
        tx.commit().map_err(store_err)?;
        Ok(purged)
    }

    /// Stores validated keys for `model`; returns the new record. Refuses when the store
    /// would exceed its number or size limit (after purging expired keys).
    pub fn insert(&self, model: &str, bytes: &[u8]) -> ServeResult<KeyRecord> {
        let now = now_secs();
        let seed = henn_ring::sampler::fresh_seed();
        let id: String = seed[..16].iter().map(|b| format!("{b:02x}")).collect();
        let record = KeyRecord {
            id,
            model: model.to_string(),
            created: now,
            expires: now.saturating_add(self.limits.ttl.as_secs()),
            bytes: bytes.len() as u64,
        };
        let tx = self.db.begin_write().map_err(store_err)?;
        {
            let mut meta = tx.open_table(META).map_err(store_err)?;
            let mut blobs = tx.open_table(BLOBS).map_err(store_err)?;
            let mut live = Vec::new();
            for r in Self::all_meta(&meta)? {
                if r.expired(now) {
                    meta.remove(r.id.as_str()).map_err(store_err)?;
                    blobs.remove(r.id.as_str()).map_err(store_err)?;
                } else {
                    live.push(r);
                }
            }
            let total: u64 = live.iter().map(|r| r.bytes).sum();
            if live.len() >= self.limits.max_keys {
                return Err(ServeError::StoreFull(format!(
                    "{} keys stored, the limit is {}; delete keys first",
                    live.len(),
                    self.limits.max_keys
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
        Ok(record)
    }

    /// The record of a live (stored, unexpired) key.
    pub fn record(&self, id: &str) -> ServeResult<Option<KeyRecord>> {
        let tx = self.db.begin_read().map_err(store_err)?;
        let meta = match tx.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(store_err(e)),
        };
        let Some(v) = meta.get(id).map_err(store_err)? else {
            return Ok(None);
        };
        let r = KeyRecord::decode(id, v.value())?;
        Ok((!r.expired(now_secs())).then_some(r))
    }

    /// The record and bytes of a live key.
    pub fn get(&self, id: &str) -> ServeResult<Option<(KeyRecord, Vec<u8>)>> {
        let Some(r) = self.record(id)? else {
            return Ok(None);
        };
        let tx = self.db.begin_read().map_err(store_err)?;
        let blobs = tx.open_table(BLOBS).map_err(store_err)?;
        let Some(v) = blobs.get(id).map_err(store_err)? else {
            return Err(ServeError::Store(format!(
                "key {id} has metadata but no data"
            )));
        };
        Ok(Some((r, v.value().to_vec())))
    }

    /// Deletes a key; returns whether it existed.
    pub fn delete(&self, id: &str) -> ServeResult<bool> {
        let tx = self.db.begin_write().map_err(store_err)?;
        let existed = {
            let mut meta = tx.open_table(META).map_err(store_err)?;
            let mut blobs = tx.open_table(BLOBS).map_err(store_err)?;
            let existed = meta.remove(id).map_err(store_err)?.is_some();
            blobs.remove(id).map_err(store_err)?;
            existed
        };
        tx.commit().map_err(store_err)?;
        Ok(existed)
    }

    /// Number and total bytes of live keys.
    pub fn usage(&self) -> ServeResult<(usize, u64)> {
        let now = now_secs();
        let tx = self.db.begin_read().map_err(store_err)?;
        let meta = match tx.open_table(META) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok((0, 0)),
            Err(e) => return Err(store_err(e)),
        };
        let live: Vec<KeyRecord> = Self::all_meta(&meta)?
            .into_iter()
            .filter(|r| !r.expired(now))
            .collect();
        Ok((live.len(), live.iter().map(|r| r.bytes).sum()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_keys: usize, max_total_bytes: u64, ttl: u64) -> StoreLimits {
        StoreLimits {
            max_keys,
            max_total_bytes,
            ttl: Duration::from_secs(ttl),
        }
    }

    #[test]
    fn keys_survive_reopening_and_can_be_deleted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.redb");
        let id = {
            let s = KeyStore::open(&path, limits(4, 1000, 3600)).unwrap();
            let r = s.insert("m", b"abc").unwrap();
            assert!(valid_key_id(&r.id));
            r.id
        };
        let s = KeyStore::open(&path, limits(4, 1000, 3600)).unwrap();
        let (r, bytes) = s.get(&id).unwrap().unwrap();
        assert_eq!((r.model.as_str(), bytes.as_slice()), ("m", &b"abc"[..]));
        assert_eq!(s.usage().unwrap(), (1, 3));
        assert!(s.delete(&id).unwrap());
        assert!(!s.delete(&id).unwrap());
        assert!(s.get(&id).unwrap().is_none());
    }

    #[test]
    fn limits_are_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let s = KeyStore::open(&dir.path().join("k.redb"), limits(2, 10, 3600)).unwrap();
        s.insert("m", &[0; 4]).unwrap();
        assert!(matches!(
            s.insert("m", &[0; 7]),
            Err(ServeError::StoreFull(_))
        ));
        s.insert("m", &[0; 6]).unwrap();
        assert!(matches!(
            s.insert("m", &[0; 1]),
            Err(ServeError::StoreFull(_))
        ));
    }

    #[test]
    fn expired_keys_are_absent_and_purged() {
        let dir = tempfile::tempdir().unwrap();
        let s = KeyStore::open(&dir.path().join("k.redb"), limits(1, 100, 0)).unwrap();
        let r = s.insert("m", b"x").unwrap();
        assert!(s.record(&r.id).unwrap().is_none());
        // The expired key does not count against the limit of one key.
        s.insert("m", b"y").unwrap();
        assert_eq!(s.purge_expired().unwrap(), 1);
    }
}
