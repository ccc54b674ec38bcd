//! Finding tasks: `ListTasks` with its filters, every page (up to a bound), and
//! `DescribeTasks` in chunks of 100 ARNs (its limit). `ListTasks` takes `startedBy` only
//! as its one filter; the others combine.

use aws_sdk_ecs::types::{DesiredStatus, Task};

use super::aws;

/// Pages of `ListTasks` read at the most (100 tasks each).
const MAX_PAGES: usize = 50;

/// What `ListTasks` filters on.
#[derive(Clone, Debug, Default)]
pub struct Filter<'a> {
    pub started_by: Option<&'a str>,
    pub family: Option<&'a str>,
    pub service: Option<&'a str>,
    pub desired: Option<DesiredStatus>,
}

impl Filter<'_> {
    fn resource(&self, cluster: &str) -> String {
        match (self.service, self.family) {
            (Some(s), _) => format!("service `{s}` in cluster `{cluster}`"),
            (_, Some(f)) => format!("task family `{f}` in cluster `{cluster}`"),
            _ => format!("cluster `{cluster}`"),
        }
    }
}

/// The ARNs of the tasks that match.
pub async fn list(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    filter: &Filter<'_>,
) -> Result<Vec<String>, aws::ApiError> {
    let mut arns = Vec::new();
    let mut next: Option<String> = None;
    for _page in 0..MAX_PAGES {
        let out = ecs
            .list_tasks()
            .cluster(cluster)
            .set_started_by(filter.started_by.map(str::to_string))
            .set_family(filter.family.map(str::to_string))
            .set_service_name(filter.service.map(str::to_string))
            .set_desired_status(filter.desired.clone())
            .set_next_token(next.take())
            .send()
            .await
            .map_err(|e| aws::describe(&e, "ecs:ListTasks", &filter.resource(cluster)))?;
        arns.extend(out.task_arns().iter().cloned());
        match out.next_token() {
            Some(t) if !t.is_empty() => next = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(arns)
}

/// The tasks named, as `DescribeTasks` reports them.
pub async fn describe(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    arns: &[String],
) -> Result<Vec<Task>, aws::ApiError> {
    let mut tasks = Vec::new();
    for chunk in arns.chunks(100) {
        let out = ecs
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| aws::describe(&e, "ecs:DescribeTasks", &format!("cluster `{cluster}`")))?;
        tasks.extend(out.tasks().iter().cloned());
    }
    Ok(tasks)
}
