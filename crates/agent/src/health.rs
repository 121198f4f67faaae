//! Samples the shard's k6 and the CPU and memory pool it runs in, once a
//! second while the test runs (judged by `loadgrid-health`).
//!
//! - **k6**: CPU time and resident memory from `/proc/<pid>/stat` and
//!   `statm`, open sockets from `/proc/<pid>/fd`, network bytes from
//!   `/proc/<pid>/net/dev` (its network namespace: the container's or the
//!   task's).
//! - **The pool**: an ECS task's size comes from the task metadata endpoint
//!   (the backend hands it over), a container's from its cgroup (`cpu.max`
//!   or `cpu.cfs_quota_us`, `memory.max` or `memory.limit_in_bytes`), and
//!   its use from the cgroup's counters. A process on a shared machine has
//!   the cores it may run on (its affinity) and the machine's memory, and
//!   their use from `/proc/stat` and `/proc/meminfo`: other shards and a
//!   target on the same machine starve k6 as surely as a quota does.
//!
//! A file that cannot be read makes its number 0 for that second; health
//! is never a reason for a shard to fail.

use std::path::Path;
use std::time::Instant;

use loadgrid_health::{Allowance, LogSignals, Pool, Sample, ShardHealth};
use loadgrid_plan::records::now_ms;

/// Where the container's cgroup files are (the container sees its own
/// cgroup at the mount's root: cgroup v2, or v1's per-controller mounts).
const CGROUP: &str = "/sys/fs/cgroup";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Cgroup {
    V1,
    V2,
}

#[derive(Debug, Clone, Copy)]
struct Counters {
    at: Instant,
    k6_cpu_seconds: f64,
    pool_cpu_seconds: f64,
    net_rx: u64,
    net_tx: u64,
}

pub struct Sampler {
    pid: i32,
    /// The cgroup whose counters measure the pool (containers and tasks).
    cgroup: Option<Cgroup>,
    /// The CPUs the agent may run on, for the host's busy time.
    cpus: Vec<usize>,
    clock_ticks: f64,
    page_size: u64,
    previous: Option<Counters>,
    health: ShardHealth,
    /// The cgroup's OOM kill count before the test.
    oom_kills_before: u64,
}

impl Sampler {
    /// `task`: the ECS task's size, when running as a task. `None` without
    /// Linux's `/proc` (a local run on macOS): no numbers beat made-up ones.
    pub fn new(pid: i32, task: Option<Allowance>) -> Option<Sampler> {
        if !Path::new("/proc/self/stat").exists() {
            return None;
        }
        let cgroup = detect_cgroup();
        let cpus = allowed_cpus();
        let host_memory = meminfo_bytes("MemTotal:").unwrap_or(0);
        let quota = cgroup.and_then(cpu_quota);
        let memory_limit = cgroup.and_then(memory_limit).filter(|limit| host_memory == 0 || *limit < host_memory);
        let allowance = match task {
            Some(task) => task,
            None if quota.is_some() || memory_limit.is_some() => Allowance {
                pool: Pool::Container,
                cpu_cores: quota.unwrap_or(cpus.len() as f64).min(cpus.len().max(1) as f64),
                memory_bytes: memory_limit.unwrap_or(host_memory),
            },
            None => Allowance { pool: Pool::Host, cpu_cores: cpus.len().max(1) as f64, memory_bytes: host_memory },
        };
        // A shared machine's pool is the machine, not the agent's cgroup.
        let cgroup = cgroup.filter(|c| allowance.pool != Pool::Host && cgroup_cpu_seconds(*c).is_some());
        let sysconf = |var| nix::unistd::sysconf(var).ok().flatten().filter(|v| *v > 0);
        Some(Sampler {
            pid,
            cgroup,
            cpus,
            clock_ticks: sysconf(nix::unistd::SysconfVar::CLK_TCK).unwrap_or(100) as f64,
            page_size: sysconf(nix::unistd::SysconfVar::PAGE_SIZE).unwrap_or(4096) as u64,
            previous: None,
            health: ShardHealth {
                allowance,
                samples: Vec::new(),
                log: LogSignals::default(),
                oom_kills: 0,
                clock_offset: None,
            },
            oom_kills_before: cgroup.and_then(oom_kills).unwrap_or(0),
        })
    }

    /// The samples so far, with what k6's log has said so far.
    pub fn health(&mut self, log: LogSignals) -> &ShardHealth {
        self.health.log = log;
        &self.health
    }

    /// The samples, with the OOM kills since the first one; the caller adds
    /// k6's last log signals once k6 has exited.
    pub fn into_health(self) -> ShardHealth {
        let oom_kills = self.cgroup.and_then(oom_kills).map_or(0, |kills| kills.saturating_sub(self.oom_kills_before));
        ShardHealth { oom_kills, ..self.health }
    }

    /// Takes a sample: the first call only sets the baseline.
    pub fn sample(&mut self) {
        let proc = format!("/proc/{}", self.pid);
        let (net_rx, net_tx) = read(&format!("{proc}/net/dev")).map_or((0, 0), |text| net_bytes(&text));
        let now = Counters {
            at: Instant::now(),
            k6_cpu_seconds: read(&format!("{proc}/stat")).and_then(|text| process_cpu_ticks(&text)).unwrap_or(0) as f64
                / self.clock_ticks,
            pool_cpu_seconds: match self.cgroup {
                Some(cgroup) => cgroup_cpu_seconds(cgroup).unwrap_or(0.0),
                None => read("/proc/stat").map_or(0, |text| busy_ticks(&text, &self.cpus)) as f64 / self.clock_ticks,
            },
            net_rx,
            net_tx,
        };
        let Some(previous) = self.previous.replace(now) else { return };
        let elapsed = now.at.duration_since(previous.at).as_secs_f64();
        if elapsed <= 0.0 {
            return;
        }
        let rate = |now: f64, before: f64| ((now - before) / elapsed).max(0.0);
        self.health.samples.push(Sample {
            at_ms: now_ms(),
            k6_cpu: round(rate(now.k6_cpu_seconds, previous.k6_cpu_seconds)),
            pool_cpu: round(rate(now.pool_cpu_seconds, previous.pool_cpu_seconds)),
            k6_memory_bytes: read(&format!("{proc}/statm"))
                .and_then(|text| text.split_whitespace().nth(1)?.parse::<u64>().ok())
                .unwrap_or(0)
                * self.page_size,
            pool_memory_bytes: match self.cgroup {
                Some(cgroup) => cgroup_memory_in_use(cgroup).unwrap_or(0),
                None => host_memory_in_use().unwrap_or(0),
            },
            sockets: sockets(&format!("{proc}/fd")),
            net_rx_bytes: now.net_rx.saturating_sub(previous.net_rx),
            net_tx_bytes: now.net_tx.saturating_sub(previous.net_tx),
            seconds: 1,
        });
        self.health.bound();
    }
}

fn round(cores: f64) -> f64 {
    (cores * 1000.0).round() / 1000.0
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

fn detect_cgroup() -> Option<Cgroup> {
    if Path::new(&format!("{CGROUP}/cgroup.controllers")).exists() {
        Some(Cgroup::V2)
    } else if Path::new(&format!("{CGROUP}/cpuacct/cpuacct.usage")).exists() {
        Some(Cgroup::V1)
    } else {
        None
    }
}

/// The CPU quota in cores, if there is one.
fn cpu_quota(cgroup: Cgroup) -> Option<f64> {
    let (quota, period) = match cgroup {
        Cgroup::V2 => {
            let text = read(&format!("{CGROUP}/cpu.max"))?;
            let mut fields = text.split_whitespace();
            (fields.next()?.parse::<f64>().ok()?, fields.next()?.parse::<f64>().ok()?)
        }
        Cgroup::V1 => (
            read(&format!("{CGROUP}/cpu/cpu.cfs_quota_us"))?.trim().parse::<f64>().ok()?,
            read(&format!("{CGROUP}/cpu/cpu.cfs_period_us"))?.trim().parse::<f64>().ok()?,
        ),
    };
    (quota > 0.0 && period > 0.0).then(|| quota / period)
}

fn memory_limit(cgroup: Cgroup) -> Option<u64> {
    let path = match cgroup {
        Cgroup::V2 => format!("{CGROUP}/memory.max"),
        Cgroup::V1 => format!("{CGROUP}/memory/memory.limit_in_bytes"),
    };
    read(&path)?.trim().parse().ok()
}

fn cgroup_cpu_seconds(cgroup: Cgroup) -> Option<f64> {
    match cgroup {
        Cgroup::V2 => {
            let text = read(&format!("{CGROUP}/cpu.stat"))?;
            Some(field(&text, "usage_usec")? as f64 / 1e6)
        }
        Cgroup::V1 => Some(read(&format!("{CGROUP}/cpuacct/cpuacct.usage"))?.trim().parse::<u64>().ok()? as f64 / 1e9),
    }
}

/// Memory in use without the page cache the kernel can reclaim (what
/// `docker stats` shows, and what the OOM killer goes by).
fn cgroup_memory_in_use(cgroup: Cgroup) -> Option<u64> {
    let (usage, stat, inactive) = match cgroup {
        Cgroup::V2 => ("memory.current", "memory.stat", "inactive_file"),
        Cgroup::V1 => ("memory/memory.usage_in_bytes", "memory/memory.stat", "total_inactive_file"),
    };
    let usage: u64 = read(&format!("{CGROUP}/{usage}"))?.trim().parse().ok()?;
    let inactive = read(&format!("{CGROUP}/{stat}")).and_then(|text| field(&text, inactive)).unwrap_or(0);
    Some(usage.saturating_sub(inactive))
}

/// The kernel's count of processes it killed in the cgroup for memory.
fn oom_kills(cgroup: Cgroup) -> Option<u64> {
    let path = match cgroup {
        Cgroup::V2 => format!("{CGROUP}/memory.events"),
        Cgroup::V1 => format!("{CGROUP}/memory/memory.oom_control"),
    };
    field(&read(&path)?, "oom_kill")
}

fn host_memory_in_use() -> Option<u64> {
    Some(meminfo_bytes("MemTotal:")?.saturating_sub(meminfo_bytes("MemAvailable:")?))
}

fn meminfo_bytes(key: &str) -> Option<u64> {
    let text = read("/proc/meminfo")?;
    let line = text.lines().find(|line| line.starts_with(key))?;
    Some(line[key.len()..].split_whitespace().next()?.parse::<u64>().ok()? * 1024)
}

/// `name value` lines (cgroup `cpu.stat`, `memory.stat`).
fn field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (key, value) = line.split_once(' ')?;
        (key == name).then(|| value.trim().parse().ok()).flatten()
    })
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn allowed_cpus() -> Vec<usize> {
    match nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) {
        Ok(set) => (0..nix::sched::CpuSet::count()).filter(|cpu| set.is_set(*cpu).unwrap_or(false)).collect(),
        Err(_) => all_cpus(),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn allowed_cpus() -> Vec<usize> {
    all_cpus()
}

fn all_cpus() -> Vec<usize> {
    (0..std::thread::available_parallelism().map_or(1, usize::from)).collect()
}

/// utime + stime of `/proc/<pid>/stat` (fields 14 and 15; the command
/// name before them may hold spaces and parentheses).
fn process_cpu_ticks(stat: &str) -> Option<u64> {
    let after_name = &stat[stat.rfind(')')? + 1..];
    let mut fields = after_name.split_whitespace().skip(11);
    Some(fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?)
}

/// Busy ticks (everything but idle and iowait) of the given CPUs in `/proc/stat`.
fn busy_ticks(stat: &str, cpus: &[usize]) -> u64 {
    stat.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("cpu")?;
            let (index, times) = rest.split_once(' ')?;
            let index: usize = index.parse().ok()?;
            cpus.contains(&index).then_some(times)
        })
        .map(|times| {
            let values: Vec<u64> = times.split_whitespace().filter_map(|v| v.parse().ok()).collect();
            // user nice system idle iowait irq softirq steal (guest time is in user already).
            let total: u64 = values.iter().take(8).sum();
            let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
            total.saturating_sub(idle)
        })
        .sum()
}

/// Bytes received and sent on every interface of k6's network namespace
/// (loopback too: a test against this machine talks on nothing else).
fn net_bytes(net_dev: &str) -> (u64, u64) {
    net_dev
        .lines()
        .skip(2)
        .filter_map(|line| {
            let (_, counters) = line.split_once(':')?;
            let counters: Vec<u64> = counters.split_whitespace().filter_map(|v| v.parse().ok()).collect();
            Some((*counters.first()?, *counters.get(8)?))
        })
        .fold((0, 0), |(rx, tx), (r, t)| (rx + r, tx + t))
}

fn sockets(fd_dir: &str) -> u32 {
    let Ok(entries) = std::fs::read_dir(fd_dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter(|entry| {
            std::fs::read_link(entry.path()).is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        })
        .count() as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_cpu_is_user_plus_system_ticks_even_with_a_strange_name() {
        let stat = "4242 (k6 (worker) x) S 1 4242 4242 0 -1 4194560 1234 0 0 0 250 75 0 0 20 0 12 0 100 0 0";
        assert_eq!(process_cpu_ticks(stat), Some(325));
    }

    #[test]
    fn host_busy_time_counts_only_the_cpus_the_agent_may_use() {
        let stat = "cpu  300 0 100 1000 50 0 0 0 0 0\n\
                    cpu0 200 0 50 400 20 5 5 0 0 0\n\
                    cpu1 100 0 50 600 30 0 0 0 0 0\n\
                    intr 12345\n";
        assert_eq!(busy_ticks(stat, &[0]), 260);
        assert_eq!(busy_ticks(stat, &[0, 1]), 410);
    }

    #[test]
    fn network_bytes_add_up_every_interface() {
        let header = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";
        let lo = "    lo: 5000 10 0 0 0 0 0 0 5000 10 0 0 0 0 0 0\n";
        let eth = "  eth0: 9000 20 0 0 0 0 0 0 700 5 0 0 0 0 0 0\n";
        assert_eq!(net_bytes(&format!("{header}{lo}")), (5000, 5000));
        assert_eq!(net_bytes(&format!("{header}{lo}{eth}")), (14000, 5700));
    }

    #[test]
    fn cgroup_stat_fields_are_read_by_name() {
        let stat = "usage_usec 8123456\nuser_usec 6000000\nsystem_usec 2123456\nnr_throttled 4\n";
        assert_eq!(field(stat, "usage_usec"), Some(8_123_456));
        assert_eq!(field(stat, "throttled_usec"), None);
    }

    #[test]
    fn a_sampler_on_this_machine_measures_a_busy_process() {
        // This test process spins for a while between two samples.
        let mut sampler = Sampler::new(std::process::id() as i32, None).expect("Linux has /proc");
        sampler.sample();
        let spin_until = Instant::now() + std::time::Duration::from_millis(300);
        let mut n = 0u64;
        while Instant::now() < spin_until {
            n = n.wrapping_add(1);
        }
        sampler.sample();
        let health = sampler.into_health();
        let sample = health.samples[0];
        assert!(n > 0);
        assert!(sample.k6_cpu > 0.2, "{sample:?}");
        assert!(sample.pool_cpu >= sample.k6_cpu * 0.9, "{sample:?}");
        assert!(sample.k6_memory_bytes > 0 && sample.pool_memory_bytes > 0, "{sample:?}");
        assert!(health.allowance.cpu_cores >= 1.0);
    }
}
