//! The run store: where a run's plan, archive, barrier markers and results
//! live, and the source of truth for how every shard ended.
//!
//! One layout ([`layout`]) serves a local directory and object storage alike,
//! behind the `object_store` API, so both get the same conditional writes:
//! [`Store::put_if_absent`] is what makes the barrier's `go` marker be written
//! exactly once.
//!
//! Every write is atomic: a reader sees the whole object or none of it (the
//! local backend writes a temporary file and renames it).

pub mod layout;

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::TryStreamExt;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, WriteMultipart};
use tokio::io::AsyncReadExt;

/// Archives above this size upload in parts.
const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
const PART_SIZE: usize = 8 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open store `{url}`: {reason}")]
    Open { url: String, reason: String },
    #[error(
        "store `{url}`: {operation} `{key}` failed (check that the store is reachable and writable, or name \
         another with --store)"
    )]
    Io {
        url: String,
        operation: &'static str,
        key: String,
        #[source]
        source: Box<object_store::Error>,
    },
    #[error("cannot use local file `{path}`")]
    LocalFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A handle on one store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    inner: Arc<dyn ObjectStore>,
    url: String,
    /// Set for local stores: where shard logs of local runs can go.
    local_root: Option<PathBuf>,
}

impl Store {
    /// Opens a store from its URL: a directory path (created if missing) or
    /// `file:///abs/path`. `s3://bucket/prefix` is recognised and reported as
    /// not available in this build.
    pub fn open(url: &str) -> Result<Store> {
        if let Some(rest) = url.strip_prefix("s3://") {
            let _ = rest;
            return Err(StoreError::Open {
                url: url.to_owned(),
                reason: "S3 stores come with the ECS backend and are not in this build; use a local directory".into(),
            });
        }
        if url.contains("://") && !url.starts_with("file://") {
            return Err(StoreError::Open {
                url: url.to_owned(),
                reason: "unknown scheme; use a directory path or s3://bucket/prefix".into(),
            });
        }
        let path = PathBuf::from(url.strip_prefix("file://").unwrap_or(url));
        Self::open_local(&path)
    }

    pub fn open_local(dir: &FsPath) -> Result<Store> {
        let open_error = |reason: String| StoreError::Open { url: dir.display().to_string(), reason };
        if dir.exists() && !dir.is_dir() {
            return Err(open_error(
                "it is a file, not a directory; name a directory (or s3://bucket/prefix) with --store".into(),
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| {
            open_error(format!("cannot create the directory ({e}); name a directory you can write to with --store"))
        })?;
        let root = dir.canonicalize().map_err(|e| open_error(e.to_string()))?;
        let local = LocalFileSystem::new_with_prefix(&root).map_err(|e| open_error(e.to_string()))?;
        Ok(Store { inner: Arc::new(local), url: root.display().to_string(), local_root: Some(root) })
    }

    /// Wraps any object store, e.g. S3 or an in-memory one in tests.
    pub fn from_object_store(inner: Arc<dyn ObjectStore>, url: impl Into<String>) -> Store {
        Store { inner, url: url.into(), local_root: None }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The directory of a local store.
    pub fn local_root(&self) -> Option<&FsPath> {
        self.local_root.as_deref()
    }

    fn io_error(&self, operation: &'static str, key: &str) -> impl FnOnce(object_store::Error) -> StoreError + '_ {
        let key = key.to_owned();
        move |source| StoreError::Io { url: self.url.clone(), operation, key, source: Box::new(source) }
    }

    /// Writes `key` atomically, replacing what was there.
    pub async fn put(&self, key: &str, bytes: impl Into<Bytes>) -> Result<()> {
        self.inner.put(&Path::from(key), PutPayload::from(bytes.into())).await.map_err(self.io_error("write", key))?;
        Ok(())
    }

    /// Writes `key` only if it does not exist yet. Returns false when another
    /// writer got there first.
    pub async fn put_if_absent(&self, key: &str, bytes: impl Into<Bytes>) -> Result<bool> {
        let options = PutOptions { mode: PutMode::Create, ..Default::default() };
        match self.inner.put_opts(&Path::from(key), PutPayload::from(bytes.into()), options).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. }) | Err(object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(self.io_error("conditional write", key)(e)),
        }
    }

    /// The newest version of a record kept as numbered versions under
    /// `prefix` (see [`Store::put_version`]): its number and bytes.
    pub async fn latest_version(&self, prefix: &str) -> Result<Option<(u64, Bytes)>> {
        let keys = self.list_keys(prefix).await?;
        let newest = keys.iter().filter_map(|key| Some((key.rsplit('/').next()?.parse::<u64>().ok()?, key))).max();
        let Some((version, key)) = newest else { return Ok(None) };
        Ok(self.get(key).await?.map(|bytes| (version, bytes)))
    }

    /// Writes version `version` of a record that several writers change: a
    /// compare-and-swap made of conditional creates, which every store
    /// has. A writer reads the newest version `n`, changes it and writes
    /// `n + 1`; false means another writer got there first, and the change
    /// must be made again on what that writer wrote. Old versions are
    /// pruned, keeping the last few for a reader that listed a moment ago.
    pub async fn put_version(&self, prefix: &str, version: u64, bytes: impl Into<Bytes>) -> Result<bool> {
        const KEEP: u64 = 8;
        let written = self.put_if_absent(&layout::version(prefix, version), bytes).await?;
        if written && version >= KEEP {
            let _ = self.delete(&layout::version(prefix, version - KEEP)).await;
        }
        Ok(written)
    }

    /// Reads `key`, or `None` if it does not exist.
    pub async fn get(&self, key: &str) -> Result<Option<Bytes>> {
        match self.inner.get(&Path::from(key)).await {
            Ok(result) => Ok(Some(result.bytes().await.map_err(self.io_error("read", key))?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.io_error("read", key)(e)),
        }
    }

    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.inner.head(&Path::from(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.io_error("check", key)(e)),
        }
    }

    /// When the store took the last write of `key`, by the store's clock
    /// (milliseconds since the Unix epoch; whole seconds on S3).
    pub async fn written_at_ms(&self, key: &str) -> Result<Option<i64>> {
        match self.inner.head(&Path::from(key)).await {
            Ok(meta) => Ok(Some(meta.last_modified.timestamp_millis())),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.io_error("check", key)(e)),
        }
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.inner.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.io_error("delete", key)(e)),
        }
    }

    /// Names of the immediate children "directories" of `prefix`.
    pub async fn list_dirs(&self, prefix: &str) -> Result<Vec<String>> {
        let listing =
            self.inner.list_with_delimiter(Some(&Path::from(prefix))).await.map_err(self.io_error("list", prefix))?;
        let mut names: Vec<String> =
            listing.common_prefixes.iter().filter_map(|p| p.filename().map(str::to_owned)).collect();
        names.sort();
        Ok(names)
    }

    /// Every key under `prefix`.
    pub async fn list_keys(&self, prefix: &str) -> Result<Vec<String>> {
        let mut keys: Vec<String> = self
            .inner
            .list(Some(&Path::from(prefix)))
            .map_ok(|meta| meta.location.to_string())
            .try_collect()
            .await
            .map_err(self.io_error("list", prefix))?;
        keys.sort();
        Ok(keys)
    }

    /// Uploads a local file; large files go up in parts.
    pub async fn put_file(&self, key: &str, file: &FsPath) -> Result<()> {
        let local_error = |source| StoreError::LocalFile { path: file.to_owned(), source };
        let size = tokio::fs::metadata(file).await.map_err(local_error)?.len();
        if size <= MULTIPART_THRESHOLD {
            let bytes = tokio::fs::read(file).await.map_err(local_error)?;
            return self.put(key, bytes).await;
        }
        let upload =
            self.inner.put_multipart(&Path::from(key)).await.map_err(self.io_error("start multipart upload", key))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
        let mut reader = tokio::fs::File::open(file).await.map_err(local_error)?;
        let mut buffer = vec![0u8; PART_SIZE];
        loop {
            let read = reader.read(&mut buffer).await.map_err(local_error)?;
            if read == 0 {
                break;
            }
            writer.wait_for_capacity(4).await.map_err(self.io_error("upload part", key))?;
            writer.write(&buffer[..read]);
        }
        writer.finish().await.map_err(self.io_error("finish multipart upload", key))?;
        Ok(())
    }

    /// Downloads `key` into a local file (written whole, then renamed).
    pub async fn get_to_file(&self, key: &str, file: &FsPath) -> Result<bool> {
        let Some(bytes) = self.get(key).await? else { return Ok(false) };
        let local_error = |source| StoreError::LocalFile { path: file.to_owned(), source };
        let partial = file.with_extension("partial");
        tokio::fs::write(&partial, &bytes).await.map_err(local_error)?;
        tokio::fs::rename(&partial, file).await.map_err(local_error)?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn conditional_write_happens_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        assert!(store.put_if_absent("runs/r1/go", "first").await.unwrap());
        assert!(!store.put_if_absent("runs/r1/go", "second").await.unwrap());
        assert_eq!(store.get("runs/r1/go").await.unwrap().unwrap(), "first");
    }

    #[tokio::test]
    async fn missing_keys_read_as_none_and_dirs_list_sorted() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        assert_eq!(store.get("nope").await.unwrap(), None);
        store.put("runs/b/manifest.json", "{}").await.unwrap();
        store.put("runs/a/manifest.json", "{}").await.unwrap();
        assert_eq!(store.list_dirs("runs").await.unwrap(), vec!["a", "b"]);
        assert!(store.exists("runs/a/manifest.json").await.unwrap());
    }

    #[tokio::test]
    async fn large_files_upload_in_parts_intact() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("store").to_str().unwrap()).unwrap();
        let source = dir.path().join("big.tar");
        let content: Vec<u8> = (0..(MULTIPART_THRESHOLD as usize + 1234)).map(|i| (i % 251) as u8).collect();
        std::fs::write(&source, &content).unwrap();
        store.put_file("runs/r/archive.tar", &source).await.unwrap();
        let back = dir.path().join("back.tar");
        assert!(store.get_to_file("runs/r/archive.tar", &back).await.unwrap());
        assert_eq!(std::fs::read(back).unwrap(), content);
    }

    #[tokio::test]
    async fn versions_are_a_compare_and_swap_and_old_ones_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().to_str().unwrap()).unwrap();
        let lease = layout::pool_lease("loadgrid");
        assert_eq!(store.latest_version(&lease).await.unwrap(), None);
        assert!(store.put_version(&lease, 1, "a").await.unwrap());
        // A second writer that also read "nothing" and wrote version 1 loses.
        assert!(!store.put_version(&lease, 1, "b").await.unwrap());
        for version in 2..=12 {
            assert!(store.put_version(&lease, version, format!("v{version}")).await.unwrap());
        }
        assert_eq!(store.latest_version(&lease).await.unwrap(), Some((12, Bytes::from("v12"))));
        let kept = store.list_keys(&lease).await.unwrap();
        assert_eq!(kept.len(), 8, "{kept:?}");
        assert_eq!(kept[0], layout::version(&lease, 5));
    }

    #[test]
    fn unknown_schemes_are_refused_with_a_hint() {
        let error = Store::open("ftp://host/x").unwrap_err().to_string();
        assert!(error.contains("unknown scheme"), "{error}");
    }
}
