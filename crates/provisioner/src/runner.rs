//! The build runner and the [`Provisioning`] handle the API holds.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use agentry_agent::{AgentError, WorkspaceAgent};
use agentry_store::templates::TemplateKind;
use agentry_store::workspaces::{BuildJob, JobStatus, LogStream, Transition};
use agentry_store::{Store, StoreError};
use agentry_types::errors::BuildFailure;
use tokio::sync::{Notify, broadcast, mpsc, watch};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::{Agents, ExternalProvisioner, BuildSpec, Isolation, LogLine, Logs, Provisioner, ResumeSpec};

/// Longest log line kept, in bytes; longer lines are cut at a character boundary.
const MAX_LOG_LINE: usize = 8 * 1024;
/// How often the runner looks for pending builds without being woken (builds queued through
/// another server on the same database).
const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// How often the runner fails builds whose replica is gone.
const SWEEP_INTERVAL: Duration = Duration::from_secs(15);

struct Inner {
    provisioner: Arc<dyn Provisioner>,
    /// Runs the builds of `external` templates' workspaces.
    external: ExternalProvisioner,
    agents: Arc<Agents>,
    wake: Notify,
    changed: broadcast::Sender<Uuid>,
    closing: watch::Sender<bool>,
}

/// The API's handle on provisioning: queue notifications, build-change events, agents.
#[derive(Clone)]
pub struct Provisioning {
    inner: Arc<Inner>,
}

impl Provisioning {
    pub fn new(provisioner: Arc<dyn Provisioner>, agents: Arc<Agents>) -> Provisioning {
        let (changed, _) = broadcast::channel(1024);
        let (closing, _) = watch::channel(false);
        let external = ExternalProvisioner::new(agents.clone());
        Provisioning { inner: Arc::new(Inner { provisioner, external, agents, wake: Notify::new(), changed, closing }) }
    }

    /// This replica's agent registry.
    pub fn agents(&self) -> &Arc<Agents> {
        &self.inner.agents
    }

    /// How workspaces are isolated here (see [`Isolation`]).
    pub fn isolation(&self) -> &Isolation {
        self.inner.provisioner.isolation()
    }

    /// The workspace's agent, wherever it is connected (see [`Agents::get`]).
    pub async fn agent(&self, workspace_id: Uuid) -> Result<Arc<dyn WorkspaceAgent>, AgentError> {
        self.inner.agents.get(workspace_id).await
    }

    /// Wakes the runner: a build was queued.
    pub fn build_queued(&self) {
        self.inner.wake.notify_one();
    }

    /// Ids of builds that got log lines or changed status. A receiver that lags should re-read
    /// from the database; the ids are hints.
    pub fn subscribe(&self) -> broadcast::Receiver<Uuid> {
        self.inner.changed.subscribe()
    }

    /// Becomes true when the server starts shutting down; log followers end then.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.inner.closing.subscribe()
    }

    /// Starts the shutdown: the runner stops claiming, fails its in-flight builds and ends every
    /// workspace's processes.
    pub fn close(&self) {
        self.inner.closing.send_replace(true);
    }

    fn changed(&self, build: Uuid) {
        let _ = self.inner.changed.send(build);
    }
}

pub struct BuildRunner {
    store: Store,
    p: Provisioning,
}

impl BuildRunner {
    pub fn new(store: Store, provisioning: Provisioning) -> BuildRunner {
        BuildRunner { store, p: provisioning }
    }

    /// Start-up recovery: fails builds a previous server process left `running` and reconnects
    /// the workspaces that were running. Returns the failed builds' ids.
    pub async fn recover(&self) -> Result<Vec<Uuid>, StoreError> {
        let failed = self.store.builds().fail_running_builds(&BuildFailure::ServerRestarted.to_string()).await?;
        if !failed.is_empty() {
            tracing::warn!(count = failed.len(), "failed builds interrupted by a restart");
        }
        for ws in self.store.builds().running_workspaces().await? {
            // External agents reconnect by themselves; an agent connected to a live replica is
            // that replica's to serve.
            if ws.kind == TemplateKind::External || self.store.system().agent_is_connected(ws.id).await? {
                continue;
            }
            let agent_token = self.store.system().mint_agent_token(ws.id, None).await?;
            let spec = ResumeSpec { workspace_id: ws.id, sandbox_uid: sandbox_uid(ws.sandbox_uid), network: ws.network, agent_token };
            if let Err(e) = self.p.inner.provisioner.resume(&spec).await {
                tracing::warn!(workspace = %ws.id, error = %e, "could not resume workspace");
            }
        }
        Ok(failed)
    }

    /// Runs builds until [`Provisioning::close`]; then fails the builds still in flight and
    /// shuts the provisioner down.
    pub async fn run(self) {
        let mut closing = self.p.closing();
        let in_flight: Arc<Mutex<HashSet<Uuid>>> = Arc::default();
        let mut tasks = JoinSet::new();
        let mut swept = tokio::time::Instant::now();
        while !*closing.borrow() {
            if swept.elapsed() >= SWEEP_INTERVAL {
                swept = tokio::time::Instant::now();
                match self.store.builds().fail_running_builds(&BuildFailure::ReplicaGone.to_string()).await {
                    Ok(ids) => ids.into_iter().for_each(|id| self.p.changed(id)),
                    Err(e) => tracing::warn!(error = %e, "failing the builds of gone replicas failed"),
                }
            }
            loop {
                match self.store.builds().claim_build(self.p.inner.agents.replica_id()).await {
                    Ok(Some(job)) => {
                        in_flight.lock().expect("in-flight lock").insert(job.build_id);
                        let (store, p, in_flight) = (self.store.clone(), self.p.clone(), in_flight.clone());
                        tasks.spawn(async move {
                            let id = job.build_id;
                            run_build(&store, &p, job).await;
                            in_flight.lock().expect("in-flight lock").remove(&id);
                        });
                    }
                    Ok(None) => break,
                    Err(e) => {
                        tracing::error!(error = %e, "claiming a build failed");
                        break;
                    }
                }
            }
            tokio::select! {
                _ = closing.changed() => {}
                _ = self.p.inner.wake.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
                Some(_) = tasks.join_next() => {}
            }
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        let interrupted: Vec<Uuid> = in_flight.lock().expect("in-flight lock").drain().collect();
        for id in interrupted {
            let sys = self.store.builds();
            let reason = BuildFailure::ServerShutDown.to_string();
            let _ = sys.append_build_logs(id, &[(LogStream::Provisioner, reason.clone())]).await;
            if let Err(e) = sys.finish_build(id, JobStatus::Failed, Some(&reason)).await {
                tracing::error!(build = %id, error = %e, "could not fail an interrupted build");
            }
            self.p.changed(id);
        }
        self.p.inner.provisioner.shutdown().await;
    }
}

/// The uid column is positive by construction (migration 0008); a value that is not would be
/// root or wrap around, so it maps to `nobody` instead.
fn sandbox_uid(column: i32) -> u32 {
    u32::try_from(column).ok().filter(|&u| u != 0).unwrap_or(65534)
}

fn cap_line(mut s: String) -> String {
    if s.len() > MAX_LOG_LINE {
        let mut end = MAX_LOG_LINE;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push_str(" [line truncated]");
    }
    s
}

/// Stores log lines in batches as they come, telling followers after each batch.
async fn write_logs(store: Store, p: Provisioning, build: Uuid, mut rx: mpsc::UnboundedReceiver<LogLine>) {
    let mut buf = Vec::with_capacity(256);
    while rx.recv_many(&mut buf, 256).await > 0 {
        let lines: Vec<(LogStream, String)> = buf.drain(..).map(|l| (l.stream, cap_line(l.output))).collect();
        if let Err(e) = store.builds().append_build_logs(build, &lines).await {
            tracing::error!(build = %build, error = %e, "could not store build logs");
        }
        p.changed(build);
    }
}

async fn run_build(store: &Store, p: &Provisioning, job: BuildJob) {
    let transition = job.transition.0;
    let spec = BuildSpec {
        build_id: job.build_id,
        workspace_id: job.workspace_id,
        workspace_name: job.workspace_name.clone(),
        owner_name: job.owner_name.clone(),
        startup_script: job.startup_script.clone(),
        parameters: job.parameters.0.iter().map(|v| (v.name.clone(), v.value.clone())).collect(),
        sandbox_uid: sandbox_uid(job.sandbox_uid),
        network: job.network,
        agent_token: String::new(),
    };
    p.changed(job.build_id);
    let (tx, rx) = mpsc::unbounded_channel();
    let writer = tokio::spawn(write_logs(store.clone(), p.clone(), job.build_id, rx));
    let logs = Logs::new(tx);
    logs.info(format!(
        "Build #{}: {} workspace {}/{} with template version {}.",
        job.build_number,
        transition.as_str(),
        job.owner_name,
        job.workspace_name,
        job.template_version_number
    ));
    let provisioner: &dyn Provisioner = match job.kind {
        TemplateKind::Local => p.inner.provisioner.as_ref(),
        TemplateKind::External => &p.inner.external,
    };
    let result = match transition {
        Transition::Start if job.kind == TemplateKind::External => provisioner.start(&spec, &logs).await,
        Transition::Start => match store.system().mint_agent_token(job.workspace_id, Some(job.build_id)).await {
            Ok(token) => {
                let spec = BuildSpec { agent_token: token, ..spec.clone() };
                provisioner.start(&spec, &logs).await
            }
            Err(e) => Err(crate::ProvisionError::Io { context: "minting the agent token".into(), source: std::io::Error::other(e) }),
        },
        Transition::Stop => provisioner.stop(&spec, &logs).await,
        Transition::Delete => provisioner.delete(&spec, &logs).await,
    };
    let (status, error) = match result {
        Ok(()) => {
            logs.info("Build succeeded.");
            (JobStatus::Succeeded, None)
        }
        Err(e) => {
            let msg = e.to_string();
            logs.info(format!("Build failed: {msg}"));
            (JobStatus::Failed, Some(msg))
        }
    };
    // Every line is stored before the build is seen to finish, so a follower that sees the
    // final status has seen every line.
    drop(logs);
    let _ = writer.await;
    if let Err(e) = store.builds().finish_build(job.build_id, status, error.as_deref()).await {
        tracing::error!(build = %job.build_id, error = %e, "could not finish a build");
    }
    p.changed(job.build_id);
}
