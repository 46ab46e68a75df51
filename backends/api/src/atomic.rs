//! Atomic writes, the one implementation for the workspace (the pipeline's run directory
//! and checkpoints, `init`'s tokenizer and model): a file or directory is written under a
//! temporary sibling name and renamed into place, so a killed process never leaves half of
//! one under the real name.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// The parent directory of `path` (`.` for a bare name) and its file name.
fn split(path: &Path) -> Result<(PathBuf, String)> {
    let name = path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?
        .to_string_lossy()
        .to_string();
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&parent).with_context(|| format!("creating {}", parent.display()))?;
    Ok((parent, name))
}

/// Write a file atomically: a temporary sibling (`.NAME.tmp`), fsync, rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let (dir, name) = split(path)?;
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("writing {}", tmp.display()))?;
        f.write_all(bytes).with_context(|| format!("writing {}", tmp.display()))?;
        f.sync_all().ok();
    }
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// Fill a directory atomically: `fill` writes into a temporary sibling (`.NAME.tmp`, a
/// stale one from a killed run is removed first, a failed fill's is removed after) that is
/// renamed into place once complete. An existing target is replaced only then: it is moved
/// aside (`.NAME.old`) and removed after the rename.
pub fn write_dir_atomic(path: &Path, fill: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let (parent, name) = split(path)?;
    let tmp = parent.join(format!(".{name}.tmp"));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).with_context(|| format!("removing stale {}", tmp.display()))?;
    }
    std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    if let Err(e) = fill(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    let old = parent.join(format!(".{name}.old"));
    if path.exists() {
        if old.exists() {
            std::fs::remove_dir_all(&old).with_context(|| format!("removing stale {}", old.display()))?;
        }
        std::fs::rename(path, &old).with_context(|| format!("moving {} aside", path.display()))?;
    }
    std::fs::rename(&tmp, path)
        .with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))?;
    if old.exists() {
        std::fs::remove_dir_all(&old).ok();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_failed_fill_leaves_the_old_directory_and_no_temporary() {
        let root = std::env::temp_dir().join(format!("cadrl-atomic-{}", std::process::id()));
        let d = root.join("out");
        write_dir_atomic(&d, |t| Ok(std::fs::write(t.join("a"), "1")?)).unwrap();
        let e = write_dir_atomic(&d, |t| {
            std::fs::write(t.join("a"), "2")?;
            anyhow::bail!("killed")
        });
        assert!(e.is_err());
        assert_eq!(std::fs::read_to_string(d.join("a")).unwrap(), "1");
        write_dir_atomic(&d, |t| Ok(std::fs::write(t.join("b"), "3")?)).unwrap();
        assert!(!d.join("a").exists() && d.join("b").is_file(), "replaced as a whole");
        write_atomic(&root.join("f.txt"), b"x").unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&root)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into())
            .collect();
        names.sort();
        assert_eq!(names, ["f.txt", "out"]);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
