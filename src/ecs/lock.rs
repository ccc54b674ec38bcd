//! `--lock dynamodb:TABLE`: a hard lock for teams whose several pipelines may migrate
//! the same database. One item per cluster and task family (partition key `LockID`, a
//! string — the layout of Terraform's lock tables, so one table can serve both), taken
//! with a conditional put (`attribute_not_exists`, or its lease expired, or it is ours),
//! given a lease longer than the run's timeout, and deleted at the end if still ours.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use tokio::time::{sleep, Instant};

use super::aws;
use super::Failure;
use crate::run::{now_epoch, Outcome};

pub struct Lock {
    client: aws_sdk_dynamodb::Client,
    table: String,
    id: String,
    owner: String,
}

pub struct Request<'a> {
    pub table: &'a str,
    pub id: String,
    pub owner: &'a str,
    pub lease: Duration,
    pub wait: bool,
    pub poll: Duration,
    pub deadline: Instant,
}

impl Lock {
    pub async fn acquire(
        client: aws_sdk_dynamodb::Client,
        req: Request<'_>,
    ) -> Result<Lock, Failure> {
        let resource = format!("DynamoDB table `{}`", req.table);
        loop {
            let now = now_epoch();
            let put = client
                .put_item()
                .table_name(req.table)
                .item("LockID", AttributeValue::S(req.id.clone()))
                .item("owner", AttributeValue::S(req.owner.to_string()))
                .item(
                    "expires_at",
                    AttributeValue::N((now + req.lease.as_secs()).to_string()),
                )
                .condition_expression(
                    "attribute_not_exists(LockID) OR expires_at < :now OR #owner = :me",
                )
                .expression_attribute_names("#owner", "owner")
                .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
                .expression_attribute_values(":me", AttributeValue::S(req.owner.to_string()))
                .send()
                .await;
            let err = match put {
                Ok(_) => {
                    return Ok(Lock {
                        client,
                        table: req.table.to_string(),
                        id: req.id,
                        owner: req.owner.to_string(),
                    })
                }
                Err(e) => e,
            };
            let held = err
                .as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception());
            if !held {
                let e = aws::describe(&err, "dynamodb:PutItem", &resource);
                return Err(Failure::new(Outcome::Error, format!("--lock: {e}")));
            }
            let holder = holder(&client, req.table, &req.id).await;
            if !req.wait {
                return Err(Failure::new(
                    Outcome::Error,
                    format!(
                        "--lock: `{}` in {resource} is held by {holder}: another migration is \
                         running; wait for it, or pass --wait-for-other",
                        req.id
                    ),
                ));
            }
            if Instant::now() >= req.deadline {
                return Err(Failure::new(
                    Outcome::TimedOut,
                    format!(
                        "--timeout reached waiting for the lock `{}` ({holder})",
                        req.id
                    ),
                ));
            }
            eprintln!(
                "migrail: waiting for the lock `{}`, held by {holder}",
                req.id
            );
            sleep(req.poll).await;
        }
    }

    /// Delete the lock if it is still ours; a failure is a warning (the lease expires).
    pub async fn release(self) {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("LockID", AttributeValue::S(self.id.clone()))
            .condition_expression("#owner = :me")
            .expression_attribute_names("#owner", "owner")
            .expression_attribute_values(":me", AttributeValue::S(self.owner.clone()))
            .send()
            .await;
        if let Err(e) = deleted {
            let e = aws::describe(
                &e,
                "dynamodb:DeleteItem",
                &format!("table `{}`", self.table),
            );
            eprintln!(
                "migrail: warning: could not release the lock `{}`: {e} (its lease expires by itself)",
                self.id
            );
        }
    }
}

async fn holder(client: &aws_sdk_dynamodb::Client, table: &str, id: &str) -> String {
    let got = client
        .get_item()
        .table_name(table)
        .key("LockID", AttributeValue::S(id.to_string()))
        .consistent_read(true)
        .send()
        .await;
    let item = got.ok().and_then(|o| o.item().cloned());
    let field = |k: &str| {
        item.as_ref().and_then(|i| i.get(k)).and_then(|v| match v {
            AttributeValue::S(s) | AttributeValue::N(s) => Some(s.clone()),
            _ => None,
        })
    };
    match (
        field("owner"),
        field("expires_at").and_then(|e| e.parse::<u64>().ok()),
    ) {
        (Some(owner), Some(exp)) => format!(
            "run {owner} (lease ends in {} s)",
            exp.saturating_sub(now_epoch())
        ),
        (Some(owner), None) => format!("run {owner}"),
        _ => "another run".to_string(),
    }
}
