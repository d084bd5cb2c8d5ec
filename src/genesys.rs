//! The adapter between the export driver and Genesys Cloud: `impl Source for http::Client`.
//!
//! Each `Source` method is one API call with its path, its reply check (a reply counts only
//! once its shape is right) and the meaning of its refusals: a 404 on a job status is "the job
//! is gone", a 403 on the queue lookup is "names stay empty". Texts a server sent are scrubbed
//! of secrets before they travel on. The driver (`export.rs`) knows none of this.

use std::time::Duration;

use anyhow::Result;
use time::OffsetDateTime;

use crate::api::{
    self, DetailsPage, DetailsQuery, JobQuery, JobResults, JobStatus, QueueListing, Refusal,
    RefusalKind, ResultsPage,
};
use crate::exit::{code_of, Code};
use crate::export::Source;
use crate::http::{self, Client};

/// A 403 on the details query or jobs names the permission the role lacks.
fn needs_detail_permission(e: anyhow::Error) -> anyhow::Error {
    if code_of(&e) == Code::Forbidden {
        e.context("the OAuth client's role needs analytics:conversationDetail:view")
    } else {
        e
    }
}

impl Source for Client {
    fn details_page(&mut self, query: &DetailsQuery) -> Result<DetailsPage> {
        let first_page = query.paging.page_number <= 1;
        self.post(api::DETAILS_QUERY_PATH, query, &|page: &DetailsPage| {
            page.check(first_page)
        })
        .map_err(needs_detail_permission)
    }

    fn submit_job(&mut self, query: &JobQuery) -> Result<String> {
        let submitted: api::JobSubmitted = self
            .post(api::JOBS_PATH, query, &api::JobSubmitted::check)
            .map_err(needs_detail_permission)?;
        Ok(submitted.job_id)
    }

    fn job_status(&mut self, job_id: &str) -> Result<Option<JobStatus>> {
        match self.get(&api::job_path(job_id), &JobStatus::check) {
            Ok(mut status) => {
                status.error_message = status.error_message.map(|m| self.scrub(&m));
                Ok(Some(status))
            }
            Err(e) if Refusal::kind_of(&e) == Some(RefusalKind::Gone) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn job_results(&mut self, page: &ResultsPage) -> Result<JobResults> {
        self.get(&page.path(), &JobResults::check)
    }

    fn delete_job(&mut self, job_id: &str) -> Result<()> {
        self.delete(&api::job_path(job_id))
    }

    fn queues(&mut self, ids: &[String]) -> Result<Option<QueueListing>> {
        match self.get(&api::queue_lookup_path(ids), &QueueListing::check) {
            Ok(listing) => Ok(Some(listing)),
            Err(e) if code_of(&e) == Code::Forbidden => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn availability(&mut self) -> Result<OffsetDateTime> {
        let reply: api::Availability =
            self.get(api::AVAILABILITY_PATH, &api::Availability::check)?;
        // The check above accepted the date.
        crate::window::parse_api_timestamp(&reply.data_availability_date)
            .ok_or_else(|| anyhow::anyhow!("the API gave an unreadable dataAvailabilityDate"))
    }

    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    fn wait(&mut self, duration: Duration) -> Result<()> {
        http::pause(duration)
    }

    fn retries(&self) -> u64 {
        self.stats.total_retries()
    }

    fn requests(&self) -> u64 {
        self.stats.requests
    }
}
