//! Merging a create request with the image's defaults, and filling HostConfig
//! defaults, the way Docker does it.

use std::collections::BTreeMap;

use berth_api::types::container::{ContainerConfig, Empty, HealthConfig, HostConfig};
use berth_core::{Error, Result};

/// Image defaults, in API form.
pub type ImageDefaults = ContainerConfig;

fn env_key(e: &str) -> &str {
    e.split_once('=').map(|(k, _)| k).unwrap_or(e)
}

/// Docker's merge: the request wins, the image fills what the request left empty.
pub fn merge_config(mut user: ContainerConfig, image: &ImageDefaults) -> ContainerConfig {
    if user.user.is_empty() {
        user.user = image.user.clone();
    }
    // Env: image first, then the request's, a request key replacing the image's.
    let mut env: Vec<String> = image.env.clone().unwrap_or_default();
    for e in user.env.take().unwrap_or_default() {
        let k = env_key(&e).to_string();
        env.retain(|x| env_key(x) != k);
        env.push(e);
    }
    user.env = Some(env);
    // An explicit entrypoint in the request discards the image's cmd.
    let user_set_entrypoint = user.entrypoint.is_some();
    if user.entrypoint.is_none() {
        user.entrypoint = image.entrypoint.clone();
    }
    if user.cmd.as_ref().is_none_or(Vec::is_empty) && !user_set_entrypoint {
        user.cmd = image.cmd.clone();
    }
    // `--entrypoint ""` means "no entrypoint".
    if user
        .entrypoint
        .as_ref()
        .is_some_and(|e| e.len() == 1 && e[0].is_empty())
    {
        user.entrypoint = None;
    }
    if user.working_dir.is_empty() {
        user.working_dir = image.working_dir.clone();
    }
    let mut ports: BTreeMap<String, Empty> = image.exposed_ports.clone().unwrap_or_default();
    ports.extend(user.exposed_ports.take().unwrap_or_default());
    user.exposed_ports = if ports.is_empty() { None } else { Some(ports) };
    let mut vols: BTreeMap<String, Empty> = image.volumes.clone().unwrap_or_default();
    vols.extend(user.volumes.take().unwrap_or_default());
    user.volumes = if vols.is_empty() { None } else { Some(vols) };
    let mut labels = image.labels.clone().unwrap_or_default();
    labels.extend(user.labels.take().unwrap_or_default());
    user.labels = Some(labels);
    if user.stop_signal.is_empty() {
        user.stop_signal = image.stop_signal.clone();
    }
    if user.stop_timeout.is_none() {
        user.stop_timeout = image.stop_timeout;
    }
    if user.shell.is_none() {
        user.shell = image.shell.clone();
    }
    user.healthcheck = merge_health(user.healthcheck.take(), image.healthcheck.as_ref());
    if user.on_build.is_none() {
        user.on_build = None;
    }
    user
}

fn merge_health(user: Option<HealthConfig>, image: Option<&HealthConfig>) -> Option<HealthConfig> {
    match (user, image) {
        (None, img) => img.cloned(),
        (Some(mut u), Some(img)) => {
            if u.test.as_ref().is_none_or(Vec::is_empty) {
                u.test = img.test.clone();
            }
            if u.interval == 0 {
                u.interval = img.interval;
            }
            if u.timeout == 0 {
                u.timeout = img.timeout;
            }
            if u.start_period == 0 {
                u.start_period = img.start_period;
            }
            if u.start_interval == 0 {
                u.start_interval = img.start_interval;
            }
            if u.retries == 0 {
                u.retries = img.retries;
            }
            Some(u)
        }
        (Some(u), None) => Some(u),
    }
}

/// `Path` and `Args` of inspect: entrypoint + cmd, split at the first word.
pub fn path_and_args(c: &ContainerConfig) -> Result<(String, Vec<String>)> {
    let mut all: Vec<String> = c.entrypoint.clone().unwrap_or_default();
    all.extend(c.cmd.clone().unwrap_or_default());
    if all.is_empty() {
        return Err(Error::invalid("no command specified"));
    }
    let path = all.remove(0);
    Ok((path, all))
}

/// Docker's 64 MiB default `/dev/shm`.
pub const DEFAULT_SHM: i64 = 64 << 20;

/// Fill HostConfig defaults and validate it, as the daemon does on create.
pub fn host_defaults(
    mut hc: HostConfig,
    ncpu: u64,
    cgroup_v2: bool,
) -> Result<(HostConfig, Vec<String>)> {
    let warnings = Vec::new();
    if hc.network_mode.is_empty() || hc.network_mode == "default" {
        hc.network_mode = "bridge".into();
    }
    if hc.log_config.kind.is_empty() {
        hc.log_config.kind = "json-file".into();
    }
    if !matches!(hc.log_config.kind.as_str(), "json-file" | "local" | "none") {
        return Err(Error::invalid(format!(
            "logger: no log driver named '{}' is registered",
            hc.log_config.kind
        )));
    }
    if hc.shm_size == 0 {
        hc.shm_size = DEFAULT_SHM;
    } else if hc.shm_size < 0 {
        return Err(Error::invalid("SHM size can not be less than 0"));
    }
    if hc.cgroupns_mode.is_empty() {
        hc.cgroupns_mode = if cgroup_v2 {
            "private".into()
        } else {
            "host".into()
        };
    }
    if !matches!(hc.cgroupns_mode.as_str(), "host" | "private") {
        return Err(Error::invalid(format!(
            "invalid cgroup namespace mode: {}",
            hc.cgroupns_mode
        )));
    }
    if hc.ipc_mode.is_empty() {
        hc.ipc_mode = "private".into();
    }
    // Docker records the default masked and read-only paths in the HostConfig
    // at create, so inspect shows the lists a container really runs with.
    if !hc.privileged {
        use berth_runtime::spec::mounts::{DOCKER_MASKED_PATHS, DOCKER_READONLY_PATHS};
        hc.masked_paths
            .get_or_insert_with(|| DOCKER_MASKED_PATHS.map(String::from).to_vec());
        hc.readonly_paths
            .get_or_insert_with(|| DOCKER_READONLY_PATHS.map(String::from).to_vec());
    }
    if hc.runtime.is_empty() {
        hc.runtime = "berth".into();
    }
    if !matches!(hc.runtime.as_str(), "berth" | "runc" | "youki") {
        return Err(Error::invalid(format!(
            "unknown or invalid runtime name: {}",
            hc.runtime
        )));
    }
    // Docker on Linux knows only the default isolation; berth adds `process` and
    // VM isolation (`hyperv`, alias `vm`). The value is kept as given.
    if berth_runtime::vm::Isolation::parse(&hc.isolation).is_none() {
        return Err(Error::invalid(format!(
            "invalid isolation: {:?} - linux only supports 'default', 'process' and 'hyperv'",
            hc.isolation
        )));
    }
    validate_restart(&mut hc)?;
    validate_resources(&hc, ncpu)?;
    Ok((hc, warnings))
}

fn validate_restart(hc: &mut HostConfig) -> Result<()> {
    let rp = &mut hc.restart_policy;
    if rp.name.is_empty() {
        rp.name = "no".into();
    }
    match rp.name.as_str() {
        "no" | "always" | "unless-stopped" => {
            if rp.maximum_retry_count != 0 {
                return Err(Error::invalid("invalid restart policy: maximum retry count can only be used with 'on-failure'".to_string()));
            }
        }
        "on-failure" => {
            if rp.maximum_retry_count < 0 {
                return Err(Error::invalid(
                    "invalid restart policy: maximum retry count cannot be negative",
                ));
            }
        }
        other => {
            return Err(Error::invalid(format!(
                "invalid restart policy: unknown policy '{other}'; use one of 'no', 'always', 'on-failure', or 'unless-stopped'"
            )));
        }
    }
    if hc.auto_remove && rp.name != "no" {
        return Err(Error::invalid(
            "can't create 'AutoRemove' container with restart policy",
        ));
    }
    Ok(())
}

fn validate_resources(hc: &HostConfig, ncpu: u64) -> Result<()> {
    let r = &hc.resources;
    if r.memory != 0 && r.memory < 6 * 1024 * 1024 {
        return Err(Error::invalid("Minimum memory limit allowed is 6MB"));
    }
    if r.memory > 0 && r.memory_swap > 0 && r.memory_swap < r.memory {
        return Err(Error::invalid(
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ));
    }
    if r.memory == 0 && r.memory_swap > 0 {
        return Err(Error::invalid(
            "You should always set the Memory limit when using Memoryswap limit, see usage",
        ));
    }
    if r.memory_reservation != 0 && r.memory_reservation < 6 * 1024 * 1024 {
        return Err(Error::invalid("Minimum memory reservation allowed is 6MB"));
    }
    if r.memory > 0 && r.memory_reservation > 0 && r.memory < r.memory_reservation {
        return Err(Error::invalid(
            "Minimum memory limit can not be less than memory reservation limit, see usage",
        ));
    }
    if let Some(s) = r.memory_swappiness
        && s != -1
        && !(0..=100).contains(&s)
    {
        return Err(Error::invalid(format!(
            "Invalid value: {s}, valid memory swappiness range is 0-100"
        )));
    }
    if r.nano_cpus != 0 && (r.cpu_period != 0 || r.cpu_quota != 0) {
        return Err(Error::invalid(
            "Conflicting options: Nano CPUs and CPU Period cannot both be set",
        ));
    }
    if r.nano_cpus < 0 || r.nano_cpus > (ncpu as i64) * 1_000_000_000 {
        return Err(Error::invalid(format!(
            "Range of CPUs is from 0.01 to {ncpu}.00, as there are only {ncpu} CPUs available"
        )));
    }
    if r.cpu_shares < 0 {
        return Err(Error::invalid("invalid CPU shares"));
    }
    if r.cpu_period != 0 && !(1000..=1_000_000).contains(&r.cpu_period) {
        return Err(Error::invalid(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ));
    }
    if r.cpu_quota != 0 && r.cpu_quota > 0 && r.cpu_quota < 1000 {
        return Err(Error::invalid(
            "CPU cfs quota can not be less than 1ms (i.e. 1000)",
        ));
    }
    if r.blkio_weight != 0 && !(10..=1000).contains(&r.blkio_weight) {
        return Err(Error::invalid("Range of blkio weight is from 10 to 1000"));
    }
    if hc.oom_score_adj < -1000 || hc.oom_score_adj > 1000 {
        return Err(Error::invalid(format!(
            "Invalid value {}, range for oom score adj is [-1000, 1000]",
            hc.oom_score_adj
        )));
    }
    for (path, _) in hc.tmpfs.iter().flatten() {
        if !path.starts_with('/') {
            return Err(Error::invalid(format!(
                "invalid mount config for type \"tmpfs\": invalid mount path: '{path}' mount path must be absolute"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> ContainerConfig {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn request_wins_image_fills() {
        let img = cfg(
            r#"{"Env":["PATH=/bin","A=1"],"Cmd":["sh"],"WorkingDir":"/w","Labels":{"x":"1"},"ExposedPorts":{"80/tcp":{}}}"#,
        );
        let m = merge_config(cfg(r#"{"Env":["A=2","B=3"],"Labels":{"y":"2"}}"#), &img);
        assert_eq!(m.env.unwrap(), ["PATH=/bin", "A=2", "B=3"]);
        assert_eq!(m.cmd.unwrap(), ["sh"]);
        assert_eq!(m.working_dir, "/w");
        assert_eq!(m.labels.unwrap().len(), 2);
        assert!(m.exposed_ports.unwrap().contains_key("80/tcp"));
    }

    #[test]
    fn explicit_entrypoint_drops_image_cmd() {
        let img = cfg(r#"{"Entrypoint":["/ep"],"Cmd":["arg"]}"#);
        let m = merge_config(cfg(r#"{"Entrypoint":["echo"]}"#), &img);
        assert_eq!(m.entrypoint.clone().unwrap(), ["echo"]);
        assert!(m.cmd.is_none());
        let (p, a) = path_and_args(&merge_config(cfg(r#"{"Cmd":["x","y"]}"#), &img)).unwrap();
        assert_eq!(
            (p.as_str(), a),
            ("/ep", vec!["x".to_string(), "y".to_string()])
        );
        let m = merge_config(cfg(r#"{"Entrypoint":[""],"Cmd":["ls"]}"#), &img);
        assert!(m.entrypoint.is_none());
        assert!(path_and_args(&cfg("{}")).is_err());
    }

    #[test]
    fn host_config_validation_messages() {
        let hc = |j: &str| serde_json::from_str::<HostConfig>(j).unwrap();
        let (d, _) = host_defaults(hc("{}"), 2, false).unwrap();
        assert_eq!(
            (
                d.network_mode.as_str(),
                d.shm_size,
                d.restart_policy.name.as_str()
            ),
            ("bridge", DEFAULT_SHM, "no")
        );
        let e = host_defaults(hc(r#"{"Memory":1000}"#), 2, false).unwrap_err();
        assert_eq!(e.message(), "Minimum memory limit allowed is 6MB");
        let e = host_defaults(hc(r#"{"NanoCpus":5000000000}"#), 2, false).unwrap_err();
        assert!(e.message().contains("only 2 CPUs available"));
        let e = host_defaults(
            hc(r#"{"AutoRemove":true,"RestartPolicy":{"Name":"always"}}"#),
            2,
            false,
        )
        .unwrap_err();
        assert!(e.message().contains("AutoRemove"));
        assert!(host_defaults(hc(r#"{"RestartPolicy":{"Name":"sometimes"}}"#), 2, false).is_err());
    }
}
