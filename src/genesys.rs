//! The adapter between the export driver and Genesys Cloud: `impl Source for Genesys`.
//!
//! Each `Source` method is one API call with its path, its reply check (a reply counts only
//! once its shape is right) and the meaning of its refusals, handed to the driver as data
//! (`export::Refused`, read once in `source_error` with the request it answered): a 404 on a
//! job status is "the job is gone", a 400 or 414 on several ids is "ask for fewer", a 403 is
//! "forbidden". Texts a server sent are scrubbed of secrets before they travel on. The driver
//! (`export/`) reads no error chain and no message.
//!
//! Details pages are fetched by `--parallel` worker threads, each making blocking calls
//! through the one shared `http::Client`; replies come back over a channel in whatever order
//! they finish and wait here until the driver collects them, in its own order. Every other
//! call runs on a thread of its own too. The driver thread never blocks on a request: it waits
//! for replies in short steps, and on SIGINT or SIGTERM returns the interrupted failure at
//! once, leaving the request in flight behind (the process is about to exit; nothing it would
//! bring is committed, so the last saved state stays the resume point).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use time::OffsetDateTime;

use crate::api::{
    self, DetailsPage, DetailsQuery, JobQuery, JobStatus, Lookup, NameListing, QueryFilters,
    QueueListing, ReadError, Refusal, RefusalKind, ResultsPage, Span,
};
use crate::exit::{code_of, failure, usage, Code};
use crate::export::{JobPage, Refused, Reply, Rows, Source, SourceError, Ticket, Wanted};
use crate::filters::{self, Filters};
use crate::http::{self, Client, Held};
use crate::record::{Conversation, Depth, Nodes, Parsed, Reading, View};
use crate::report::Log;

/// A page of job results, checked: held in memory or spooled (`Held`), the ids to name found
/// on that check, and where its conversations lie, so that they are read again without a
/// scan (from the spool, each time).
struct HeldRows(Held, Option<Wanted>, Vec<Span>);

impl Rows for HeldRows {
    fn wanted(&mut self) -> Option<Wanted> {
        self.1.take()
    }

    fn each(&mut self, each: &mut dyn FnMut(&str) -> Result<()>) -> Result<()> {
        let spool = match &mut self.0 {
            Held::Text(text) => {
                for span in &self.2 {
                    let at = usize::try_from(span.at).unwrap_or(usize::MAX);
                    let text = at
                        .checked_add(span.len)
                        .and_then(|end| text.get(at..end))
                        .ok_or_else(|| anyhow!("a held reply no longer reads at byte {at}"))?;
                    each(text)?;
                }
                return Ok(());
            }
            Held::Spooled(spool) => spool,
        };
        let read = match spool.rewind() {
            Ok(()) => api::read_spans(spool, &self.2, each),
            Err(e) => Err(ReadError::Malformed(format!("an unreadable spool ({e})"))),
        };
        match read {
            Ok(()) => Ok(()),
            Err(ReadError::Stopped(e)) => Err(e),
            Err(ReadError::Malformed(why)) => {
                Err(anyhow!("a spooled reply no longer reads: {why}"))
            }
        }
    }
}

/// The conversations of a held page of job results, each checked for its shape
/// (`Depth::Shape`) and kept as the writer reads them (`reading`, not `Whole`): with their
/// strict fields and records, or as their place and text alone (JSON Lines); and the page's
/// cursor and spans.
fn kept_of<'t>(
    held: &'t Held,
    nodes: &mut Nodes<'t>,
    reading: Reading,
) -> Result<(Vec<Conversation<'t>>, crate::results::Results), String> {
    let Held::Text(text) = held else {
        return Err("a spooled page read as if held".to_string());
    };
    let mut heads = Vec::new();
    let read = api::read_results_in(text, &mut |r| {
        let head = Conversation::read_within(r, Depth::Shape, nodes)?;
        heads.push(head.kept_for(reading, nodes));
        Ok(())
    })?;
    Ok((heads, read))
}

/// Waits for the next message on `replies`, looking for SIGINT or SIGTERM between short
/// waits: a signal ends the wait at once with the interrupted failure, whatever is in flight.
/// `None` once every sender is gone.
fn receive<T>(replies: &Receiver<T>) -> Result<Option<T>> {
    const STEP: Duration = Duration::from_millis(50);
    loop {
        if let Some(reason) = crate::signal::stop_reason() {
            return Err(failure(Code::Interrupted, reason));
        }
        match replies.recv_timeout(STEP) {
            Ok(reply) => return Ok(Some(reply)),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(None),
        }
    }
}

/// Makes one call through `client` on a thread of its own and waits for it with [`receive`],
/// so that a signal is obeyed even while the request hangs.
pub fn interruptible<T: Send + 'static>(
    client: &Arc<Client>,
    call: impl FnOnce(&Client) -> Result<T> + Send + 'static,
) -> Result<T> {
    let (done, reply) = mpsc::channel();
    let client = Arc::clone(client);
    thread::Builder::new()
        .name("request".to_string())
        .spawn(move || {
            // The receiver is gone only when the run was interrupted: nobody wants the reply.
            let _ = done.send(call(&client));
        })
        .context("cannot start a thread for a request")?;
    receive(&reply)?.unwrap_or_else(|| Err(anyhow!("the thread making a request stopped")))
}

/// The driver's reading of a failed call, as data: what the refusal the client returned
/// means (`many_ids`: the request asked for several ids at once, so a 400 or 414 on it asks
/// for fewer), and the error to report. The one place a refusal becomes a `Refused`.
fn source_error(e: anyhow::Error, many_ids: bool) -> SourceError {
    if code_of(&e) == Code::Forbidden {
        return SourceError::refused(Refused::Forbidden, e);
    }
    let Some(refusal) = e.chain().find_map(|c| c.downcast_ref::<Refusal>()) else {
        return SourceError::failed(e);
    };
    let refused = match refusal.status {
        400 | 414 if many_ids => Refused::TooManyIds,
        403 => Refused::Forbidden,
        _ => Refused::from(refusal.kind()),
    };
    SourceError::refused(refused, e)
}

/// A 403 on the details query or jobs names the permission the role lacks.
fn needs_detail_permission(e: anyhow::Error) -> anyhow::Error {
    if code_of(&e) == Code::Forbidden {
        e.context("the OAuth client's role needs analytics:conversationDetail:view")
    } else {
        e
    }
}

/// For `check`: the cheapest request that needs `analytics:conversationDetail:view`, a details
/// query for one conversation over `interval`.
pub fn probe_details(client: &Client, interval: String) -> Result<()> {
    details_page(
        client,
        &DetailsQuery::page(interval, 1, 1, false, &QueryFilters::default()),
        Reading::Shape,
    )
    .map(drop)
}

/// For `check`: the cheapest request that needs `routing:queue:view`, a lookup of one queue.
pub fn probe_queues(client: &Client) -> Result<()> {
    let path = format!("{}?pageSize=1", api::QUEUES_PATH);
    client.get(&path, &QueueListing::check).map(drop)
}

/// For `check`: the jobs availability, which `--mode auto` and `--mode jobs` ask for first.
pub fn probe_availability(client: &Client) -> Result<()> {
    client
        .get(api::AVAILABILITY_PATH, &api::Availability::check)
        .map(drop)
}

/// The most pages of one queue search read (`api::QUEUE_SEARCH_PAGE_SIZE` queues each): a
/// server that always reports more pages cannot hold the run.
const MAX_QUEUE_SEARCH_PAGES: u32 = 100;

/// The filters as sent: each queue given by name is searched for (`?name=`, every page) and
/// must match exactly one queue, ignoring case; an unknown or ambiguous name is a usage error
/// listing the candidates. Runs before any export request.
pub fn query_filters(client: &Arc<Client>, filters: &Filters, log: &Log) -> Result<QueryFilters> {
    let mut resolved = BTreeMap::new();
    for name in filters.queue_names() {
        let mut found = Vec::new();
        for page in 1..=MAX_QUEUE_SEARCH_PAGES {
            let path = api::queue_search_path(name, page);
            let listing = interruptible(client, move |client| {
                client.get(&path, &QueueListing::check)
            })
            .map_err(|e| {
                if code_of(&e) == Code::Forbidden {
                    e.context("looking a queue up by name needs routing:queue:view (or give the queue's id)")
                } else {
                    e
                }
            })?;
            let full = listing.entities.len() >= api::QUEUE_SEARCH_PAGE_SIZE as usize;
            let more = listing.page_count.map_or(full, |count| {
                u64::from(page) < count && !listing.entities.is_empty()
            });
            found.extend(
                listing
                    .entities
                    .into_iter()
                    .map(|q| (q.id, q.name.unwrap_or_default())),
            );
            if !more {
                break;
            }
        }
        // A queue listed on two pages (the listing moved between them) is one candidate.
        found.sort();
        found.dedup();
        let id = filters::pick_queue(name, &found).map_err(usage)?;
        log.info(&format!("--queue '{}' is queue {id}", name.escape_debug()));
        resolved.insert(name.to_lowercase(), id);
    }
    filters.wire(&resolved).map_err(|e| anyhow!(e))
}

/// Genesys Cloud through one client, with a pool of workers for details pages.
pub struct Genesys {
    client: Arc<Client>,
    parallel: u32,
    /// How much of each conversation the writer reads.
    reading: Reading,
    /// Pages to fetch; closed (dropped) when the export ends, which ends the workers.
    to_fetch: Option<Sender<(Ticket, DetailsQuery)>>,
    fetched: Receiver<(Ticket, Result<DetailsPage>)>,
    /// Replies that arrived before the driver asked for them.
    arrived: HashMap<Ticket, Result<DetailsPage>>,
    /// Tickets whose replies are dropped when they arrive.
    forgotten: HashSet<Ticket>,
    /// Pages fetched already (the estimate's), by their query, answered once without a request.
    kept: Vec<(String, DetailsPage)>,
}

impl Genesys {
    /// Starts `parallel` workers (at least one) fetching details pages through `client`,
    /// each reply read as much as the writer reads (`reading`).
    pub fn new(client: Arc<Client>, parallel: u32, reading: Reading) -> Genesys {
        let parallel = parallel.max(1);
        let (to_fetch, queue) = mpsc::channel::<(Ticket, DetailsQuery)>();
        let (done, fetched) = mpsc::channel();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..parallel {
            let queue = Arc::clone(&queue);
            let done = done.clone();
            let client = Arc::clone(&client);
            thread::spawn(move || loop {
                let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                let Ok((ticket, query)) = next else {
                    return;
                };
                let page = details_page(&client, &query, reading);
                if done.send((ticket, page)).is_err() {
                    return;
                }
            });
        }
        Genesys {
            client,
            parallel,
            reading,
            to_fetch: Some(to_fetch),
            fetched,
            arrived: HashMap::new(),
            forgotten: HashSet::new(),
            kept: Vec::new(),
        }
    }
}

impl Drop for Genesys {
    fn drop(&mut self) {
        // Workers finish the request in hand and find the queue closed.
        self.to_fetch.take();
    }
}

/// One details page, checked: the first page of a window that reports hits must carry them.
fn details_page(client: &Client, query: &DetailsQuery, reading: Reading) -> Result<DetailsPage> {
    let first_page = query.paging.page_number <= 1;
    client
        .post_read(api::DETAILS_QUERY_PATH, query, &|body: Vec<u8>| {
            // The body's buffer serves a later reply once the page is written.
            DetailsPage::read(http::Recycled(body), first_page, reading)
        })
        .map_err(needs_detail_permission)
}

impl Genesys {
    /// Keeps the reply a worker fetched for `done`, unless that page was forgotten.
    fn arrive(&mut self, done: Ticket, reply: Result<DetailsPage>) {
        if !self.forgotten.remove(&done) {
            self.arrived.insert(done, reply);
        }
    }
}

impl Source for Genesys {
    fn send_page(&mut self, ticket: Ticket, query: DetailsQuery) {
        let key = serde_json::to_string(&query).unwrap_or_default();
        if let Some(i) = self.kept.iter().position(|(kept, _)| *kept == key) {
            let (_, page) = self.kept.swap_remove(i);
            self.arrived.insert(ticket, Ok(page));
            return;
        }
        let sent = self
            .to_fetch
            .as_ref()
            .map(|queue| queue.send((ticket, query)));
        if !matches!(sent, Some(Ok(()))) {
            let gone = anyhow!("the workers fetching details pages have stopped");
            self.arrived.insert(ticket, Err(gone));
        }
    }

    fn collect_page(&mut self, ticket: Ticket) -> Reply<DetailsPage> {
        loop {
            if let Some(reply) = self.arrived.remove(&ticket) {
                return reply.map_err(|e| source_error(e, false));
            }
            let Some((done, reply)) = receive(&self.fetched)? else {
                let gone = anyhow!("the workers fetching details pages have stopped");
                return Err(SourceError::failed(gone));
            };
            self.arrive(done, reply);
        }
    }

    fn page_ready(&mut self, ticket: Ticket) -> bool {
        while let Ok((done, reply)) = self.fetched.try_recv() {
            self.arrive(done, reply);
        }
        self.arrived.contains_key(&ticket)
    }

    fn forget_page(&mut self, ticket: Ticket) {
        if self.arrived.remove(&ticket).is_none() {
            self.forgotten.insert(ticket);
        }
    }

    fn parallel(&self) -> u32 {
        self.parallel
    }

    fn keep_page(&mut self, query: DetailsQuery, page: DetailsPage) {
        let key = serde_json::to_string(&query).unwrap_or_default();
        self.kept.push((key, page));
    }

    fn submit_job(&mut self, query: &JobQuery) -> Reply<String> {
        let body = query.clone();
        let submitted: api::JobSubmitted = interruptible(&self.client, move |client| {
            client.post(api::JOBS_PATH, &body, &api::JobSubmitted::check)
        })
        .map_err(|e| source_error(needs_detail_permission(e), false))?;
        Ok(submitted.job_id)
    }

    fn job_status(&mut self, job_id: &str) -> Result<Option<JobStatus>> {
        let path = api::job_path(job_id);
        match interruptible(&self.client, move |client| {
            client.get(&path, &JobStatus::check)
        }) {
            Ok(mut status) => {
                status.error_message = status.error_message.map(|m| self.client.scrub(&m));
                Ok(Some(status))
            }
            Err(e) if Refusal::kind_of(&e) == Some(RefusalKind::Gone) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn job_results(&mut self, page: &ResultsPage, wanted: Wanted) -> Reply<JobPage> {
        // Job pages are as large as the API grants: held in memory, or spooled when large;
        // checked conversation by conversation (the ids to name collected on that read),
        // and read again one at a time when written; but a held page whose writer reads no
        // lenient field keeps what its check read (its strict fields and records, about
        // 1.2 KB a conversation, or for JSON Lines its places), and is read once.
        let reading = self.reading;
        let check = move |held: &mut Held| {
            let mut found = wanted.clone();
            let read = match held {
                Held::Text(_) if reading != Reading::Whole => {
                    let held = std::mem::replace(held, Held::Text(String::new()));
                    let (parsed, read) =
                        Parsed::from_body(held, |held, nodes| kept_of(held, nodes, reading))?;
                    return Ok((read, found, Some(parsed)));
                }
                Held::Text(text) => {
                    let mut nodes = Nodes::default();
                    api::read_results_in(text, &mut |r| {
                        nodes.clear();
                        let head = Conversation::read_within(r, Depth::Shape, &mut nodes)?;
                        found.add(View::new(&head, &nodes));
                        Ok(())
                    })?
                }
                // `get_spooled` hands the spool over rewound.
                Held::Spooled(spool) => {
                    let mut each = |raw: &str| {
                        found.add(Conversation::read_shape(raw)?.view());
                        Ok(())
                    };
                    api::read_results(spool, &mut each).map_err(|e| match e {
                        ReadError::Malformed(why) | ReadError::Stopped(why) => why,
                    })?
                }
            };
            Ok((read, found, None))
        };
        let path = page.path();
        let (held, (read, wanted, parsed)) = interruptible(&self.client, move |client| {
            client.get_spooled(&path, &check)
        })
        .map_err(|e| source_error(e, false))?;
        let rows: Box<dyn Rows> = match parsed {
            Some(parsed) => Box::new(parsed),
            None => Box::new(HeldRows(held, Some(wanted), read.spans)),
        };
        Ok(JobPage {
            rows,
            cursor: read.cursor,
        })
    }

    fn delete_job(&mut self, job_id: &str) -> Result<()> {
        let path = api::job_path(job_id);
        interruptible(&self.client, move |client| client.delete(&path))
    }

    fn conversations(&mut self, ids: &[String]) -> Reply<Vec<Box<serde_json::value::RawValue>>> {
        let path = api::by_id_path(ids);
        let asked = ids.to_vec();
        let reply: api::MultiGet = interruptible(&self.client, move |client| {
            client.get(&path, &|reply: &api::MultiGet| reply.check(&asked))
        })
        .map_err(|e| source_error(needs_detail_permission(e), ids.len() > 1))?;
        Ok(reply.conversations.unwrap_or_default())
    }

    fn names(&mut self, lookup: Lookup, ids: &[String], page: u32) -> Reply<NameListing> {
        let path = lookup.page_path(ids, page);
        interruptible(&self.client, move |client| {
            client.get(&path, &NameListing::check)
        })
        .map_err(|e| source_error(e, ids.len() > 1))
    }

    fn availability(&mut self) -> Result<OffsetDateTime> {
        let reply: api::Availability = interruptible(&self.client, |client| {
            client.get(api::AVAILABILITY_PATH, &api::Availability::check)
        })?;
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
        self.client.stats().total_retries()
    }

    fn requests(&self) -> u64 {
        self.client.stats().requests
    }
}
