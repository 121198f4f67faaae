//! Files loadgrid writes for people (reports, the trend site, JUnit,
//! policies, loadgrid.toml) and the log files it reads back: only regular
//! files, never through a symbolic link, never over something else.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use loadgrid_grid::input_error;

/// The file that marks a directory as a loadgrid trend site, so that
/// `report --site` writes only into an empty directory or its own site.
pub const SITE_MARKER: &str = ".loadgrid-site";

/// Writes through a temporary file in the same directory, then renames: a
/// failure never leaves a half-written file, and a reader never sees one.
/// Parent directories are created. The file is world-readable (reports and
/// config are for sharing), not the temporary file's owner-only mode.
///
/// Only a regular file is written or replaced: an existing device, FIFO,
/// directory or symbolic link at `path` is refused, since the rename would
/// put a file in its place (`--html /dev/null` would replace the device).
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    refuse_non_regular(path)?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| {
        input_error(format!("cannot create directory `{}`: {e}; choose a path you can write to", dir.display()))
    })?;
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(|e| {
        input_error(format!("cannot write in `{}`: {e}; choose a directory you can write to", dir.display()))
    })?;
    let failed = |e: std::io::Error| {
        anyhow::anyhow!(
            "cannot write `{}`: {e}; nothing was replaced (free some space or choose another path)",
            path.display()
        )
    };
    file.write_all(bytes).map_err(failed)?;
    file.as_file().sync_all().map_err(failed)?;
    file.as_file().set_permissions(std::fs::Permissions::from_mode(0o644)).map_err(failed)?;
    file.persist(path).map_err(|e| failed(e.error))?;
    Ok(())
}

/// An existing `path` must be a regular file (not followed if a link).
fn refuse_non_regular(path: &Path) -> anyhow::Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_file() => Ok(()),
        Ok(meta) => {
            let what = if meta.file_type().is_symlink() {
                "a symbolic link"
            } else if meta.is_dir() {
                "a directory"
            } else {
                "not a regular file (a device, FIFO or socket)"
            };
            Err(input_error(format!(
                "`{}` is {what}: loadgrid writes only regular files; give the path of a file to create or replace",
                path.display()
            )))
        }
        Err(_) => Ok(()),
    }
}

/// Makes sure `dir` may hold a trend site: not the filesystem root, and
/// either new, empty, or a site loadgrid wrote before (it has
/// [`SITE_MARKER`]). Then marks it.
pub fn claim_site_dir(dir: &Path) -> anyhow::Result<()> {
    let resolved = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    if resolved.parent().is_none() {
        return Err(input_error(format!(
            "`{}` is the filesystem root: give the trend site a directory of its own, such as `site/`",
            dir.display()
        )));
    }
    match std::fs::symlink_metadata(dir) {
        Err(_) => {}
        Ok(meta) if !meta.is_dir() => {
            return Err(input_error(format!(
                "`{}` is not a directory: give the trend site a new or empty directory",
                dir.display()
            )))
        }
        Ok(_) => {
            let mut entries = std::fs::read_dir(dir).map_err(|e| {
                input_error(format!("cannot read directory `{}`: {e}; check its permissions", dir.display()))
            })?;
            let ours = dir.join(SITE_MARKER).is_file();
            if !ours && entries.next().is_some() {
                return Err(input_error(format!(
                    "`{}` is not empty and holds no loadgrid site (no `{SITE_MARKER}`): give the trend site a new or \
                     empty directory, so that nothing else there is overwritten",
                    dir.display()
                )));
            }
        }
    }
    write_atomically(
        &dir.join(SITE_MARKER),
        b"This directory holds a trend site written by `loadgrid report --site`.\n",
    )
}

/// A log file loadgrid wrote, read without following a symbolic link (a
/// link planted in the store must not expose another file).
pub fn read_own_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut text = String::new();
    std::io::Read::read_to_string(&mut file, &mut text)?;
    Ok(text)
}

/// Refuses a symbolic link anywhere in `relative` below `root` (the store):
/// what loadgrid reads from its store stays in its store.
pub fn refuse_links_below(root: &Path, relative: &Path) -> anyhow::Result<()> {
    let mut path = root.to_path_buf();
    for part in relative.components() {
        path.push(part);
        if std::fs::symlink_metadata(&path).is_ok_and(|meta| meta.file_type().is_symlink()) {
            return Err(input_error(format!(
                "`{}` is a symbolic link: loadgrid reads only what it wrote in its store; remove the link",
                path.display()
            )));
        }
    }
    Ok(())
}
