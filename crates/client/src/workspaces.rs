//! Workspaces, builds, build logs (listed or followed live) and command execution.

use agentry_sdk as sdk;
use futures::{Stream, StreamExt};
use reqwest::Method;
use uuid::Uuid;

use crate::{Client, Error, Result, error_from};

impl Client {
    /// Creates a workspace for `user` (id, username or `me`) in `org` (id or name).
    pub async fn create_workspace(&self, org: &str, user: &str, req: &sdk::CreateWorkspaceRequest) -> Result<sdk::Workspace> {
        self.json(Method::POST, &format!("/api/v2/organizations/{org}/members/{user}/workspaces"), req).await
    }

    /// Workspaces matching the search `q` (e.g. `owner:me status:running`), first 100.
    pub async fn workspaces(&self, q: &str) -> Result<sdk::WorkspacesResponse> {
        self.workspaces_page(q, 100, 0).await
    }

    pub async fn workspaces_page(&self, q: &str, limit: i64, offset: i64) -> Result<sdk::WorkspacesResponse> {
        let rb = self.request(Method::GET, "/api/v2/workspaces").query(&[
            ("q", q.to_string()),
            ("limit", limit.to_string()),
            ("offset", offset.to_string()),
        ]);
        self.send(rb).await
    }

    pub async fn workspace(&self, id: Uuid) -> Result<sdk::Workspace> {
        self.get(&format!("/api/v2/workspaces/{id}")).await
    }

    /// Requests a `start`, `stop` or `delete` build of the workspace's current template version.
    pub async fn create_build(&self, workspace: Uuid, transition: sdk::WorkspaceTransition) -> Result<sdk::WorkspaceBuild> {
        let req = sdk::CreateWorkspaceBuildRequest { transition, template_version_id: None, rich_parameter_values: Vec::new() };
        self.create_build_with(workspace, &req).await
    }

    /// Requests a build with every option (e.g. a `start` that updates to a template version).
    pub async fn create_build_with(&self, workspace: Uuid, req: &sdk::CreateWorkspaceBuildRequest) -> Result<sdk::WorkspaceBuild> {
        self.json(Method::POST, &format!("/api/v2/workspaces/{workspace}/builds"), req).await
    }

    pub async fn workspace_build(&self, id: Uuid) -> Result<sdk::WorkspaceBuild> {
        self.get(&format!("/api/v2/workspacebuilds/{id}")).await
    }

    /// The build's log lines with ids above `after`, as stored now.
    pub async fn build_logs(&self, build: Uuid, after: i64) -> Result<Vec<sdk::WorkspaceBuildLog>> {
        self.get(&format!("/api/v2/workspacebuilds/{build}/logs?after={after}")).await
    }

    /// The build's log lines with ids above `after`, then each new line as it is written; the
    /// stream ends when the build has finished (the server sends NDJSON).
    pub async fn follow_build_logs(
        &self,
        build: Uuid,
        after: i64,
    ) -> Result<impl Stream<Item = Result<sdk::WorkspaceBuildLog>> + use<>> {
        let resp = self
            .request(Method::GET, &format!("/api/v2/workspacebuilds/{build}/logs"))
            .query(&[("follow", "true".to_string()), ("after", after.to_string())])
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(error_from(status, resp).await);
        }
        let chunks = resp.bytes_stream().boxed();
        Ok(futures::stream::unfold((chunks, Vec::<u8>::new()), |(mut chunks, mut buf)| async move {
            loop {
                if let Some(pos) = buf.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = buf.drain(..=pos).collect();
                    let line = &line[..line.len() - 1];
                    if line.is_empty() {
                        continue;
                    }
                    let item = serde_json::from_slice(line).map_err(|e| Error::Decode(e.to_string()));
                    return Some((item, (chunks, buf)));
                }
                match chunks.next().await {
                    Some(Ok(chunk)) => buf.extend_from_slice(&chunk),
                    Some(Err(e)) => return Some((Err(e.into()), (chunks, buf))),
                    None => return None,
                }
            }
        }))
    }

    /// Follows the build's log to its end, calling `on_line` for each line, and returns the
    /// finished build.
    pub async fn wait_for_build(
        &self,
        build: Uuid,
        mut on_line: impl FnMut(&sdk::WorkspaceBuildLog),
    ) -> Result<sdk::WorkspaceBuild> {
        let lines = self.follow_build_logs(build, 0).await?;
        let mut lines = std::pin::pin!(lines);
        while let Some(line) = lines.next().await {
            on_line(&line?);
        }
        self.workspace_build(build).await
    }

    /// Runs a command in a running workspace (needs `ssh` on it: the owner or the site owner).
    /// A file's bytes, read from the workspace through its agent (`path` relative to the
    /// workspace's root).
    pub async fn workspace_file(&self, workspace: Uuid, path: &str) -> Result<Vec<u8>> {
        let resp = self
            .request(Method::GET, &format!("/api/v2/workspaces/{workspace}/files/content"))
            .query(&[("path", path)])
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(error_from(status, resp).await);
        }
        Ok(resp.bytes().await?.to_vec())
    }

    /// The command that runs an external workspace's agent, with a freshly minted token.
    pub async fn external_agent(&self, workspace: Uuid) -> Result<sdk::ExternalAgentCredentials> {
        self.get(&format!("/api/v2/workspaces/{workspace}/external-agent")).await
    }

    pub async fn execute(&self, workspace: Uuid, req: &sdk::WorkspaceExecuteRequest) -> Result<sdk::WorkspaceExecuteResponse> {
        self.json(Method::POST, &format!("/api/v2/workspaces/{workspace}/execute"), req).await
    }
}
