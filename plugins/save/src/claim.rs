//! The files the save instances of this process are writing, so that two `[[pipeline]]` entries
//! cannot write one file (their captures would interleave into garbage). Every instance of the
//! process shares this library, hence one process-wide table; a claim is held as long as its
//! file is (in a check-only build too, so `ctiproxy check` reports what `run` would).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};

use ctiproxy_plugin_api::ConfigError;

use crate::target::Target;

/// Canonical path → who writes it (`save#2 file`).
static CLAIMED: Mutex<BTreeMap<PathBuf, String>> = Mutex::new(BTreeMap::new());

/// One instance's hold on one file; released when dropped.
#[derive(Debug)]
pub struct Claim {
    identity: Option<PathBuf>,
}

impl Claim {
    /// Claims `target` for `owner` (the instance's label), unless another instance has it.
    /// Devices are shared freely.
    pub fn take(target: &Target, owner: &str) -> Result<Claim, ConfigError> {
        if target.device {
            return Ok(Claim { identity: None });
        }
        let mut claimed = CLAIMED.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(holder) = claimed.get(&target.identity) {
            return Err(ConfigError::at(
                target.key,
                format!("{} is already written by {holder}", target.path.display()),
            ));
        }
        claimed.insert(target.identity.clone(), format!("{owner} {}", target.key));
        Ok(Claim { identity: Some(target.identity.clone()) })
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Some(identity) = &self.identity {
            CLAIMED.lock().unwrap_or_else(PoisonError::into_inner).remove(identity);
        }
    }
}
