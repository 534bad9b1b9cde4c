//! The S3 connector under the conformance kit, against moto through the fault proxy:
//! objects in a fresh bucket per scenario, readers in the bucket's `acl.json`, the storm and
//! the misbehaving server injected by the proxy.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use connector_s3::S3Connector;
use connector_sdk::Connector;
use connector_sdk::testkit::{
    Capabilities, Groups, HandleError, HandleResult, Misbehavior, NewDocument, Reader,
    SourceFactory, SourceHandle, Support, assert_conformant,
};
use fault_proxy::{Fault, FaultProxy, s3};
use futures::StreamExt;

use super::{NO_DOMAINS, acl_file, kit};
use crate::s3::{Bucket, proxy};

/// Keys per ListObjectsV2 page: small, so that listings have many pages (and checkpoints).
const PAGE_SIZE: i32 = 5;

struct S3Handle {
    bucket: Bucket,
    proxy: FaultProxy,
    connector: Arc<S3Connector>,
    /// Key → (text, readers): what the bucket holds.
    objects: Mutex<BTreeMap<String, (String, Vec<Reader>)>>,
}

fn failed(e: impl std::fmt::Display) -> HandleError {
    HandleError::failed(e)
}

impl S3Handle {
    async fn write_acl(&self) -> HandleResult {
        let json = {
            let objects = self.objects.lock().map_err(failed)?;
            let readers: Vec<(&String, &Vec<Reader>)> =
                objects.iter().map(|(k, (_, r))| (k, r)).collect();
            acl_file(readers, |key| format!("s3://{}/{key}", self.bucket.name))?
        };
        self.bucket.put("acl.json", json).await;
        Ok(())
    }

    fn entry(&self, key: &str) -> HandleResult<(String, Vec<Reader>)> {
        self.objects
            .lock()
            .map_err(failed)?
            .get(key)
            .cloned()
            .ok_or_else(|| failed(format!("no object {key}")))
    }

    /// A rename or move: S3 has neither, so a copy under the new key and a delete.
    async fn relocate(&self, key: &str, to: &str) -> HandleResult {
        let (text, readers) = self.entry(key)?;
        self.bucket.put(to, text.clone()).await;
        self.bucket.delete(key).await;
        {
            let mut objects = self.objects.lock().map_err(failed)?;
            objects.remove(key);
            objects.insert(to.to_string(), (text, readers));
        }
        self.write_acl().await
    }
}

/// A ListObjectsV2 answer with these elements inside `ListBucketResult`.
fn list_page(bucket: &str, inner: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult \
         xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Name>{bucket}</Name>\
         <Prefix></Prefix><MaxKeys>{PAGE_SIZE}</MaxKeys>{inner}</ListBucketResult>"
    )
}

#[async_trait]
impl SourceHandle for S3Handle {
    fn connector(&self) -> Arc<dyn Connector> {
        Arc::clone(&self.connector) as Arc<dyn Connector>
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            groups: Groups::IdentitiesFile(
                "a bucket's groups are defined by the engine's identities file: S3 has no \
                 directory to sync"
                    .into(),
            ),
            domain_readers: Support::no(NO_DOMAINS),
        }
    }

    /// The listing marks its position every page.
    fn resume_scale(&self) -> usize {
        4 * PAGE_SIZE as usize + 3
    }

    async fn add(&self, path: &str, text: &str, readers: &[Reader]) -> HandleResult {
        self.bucket.put(path, text).await;
        self.objects
            .lock()
            .map_err(failed)?
            .insert(path.to_string(), (text.to_string(), readers.to_vec()));
        self.write_acl().await
    }

    async fn add_many(&self, docs: &[NewDocument]) -> HandleResult {
        let bucket = &self.bucket;
        let owned: Vec<(String, String)> = docs
            .iter()
            .map(|d| (d.path.clone(), d.text.clone()))
            .collect();
        futures::stream::iter(owned)
            .map(|(key, text)| async move { bucket.put(&key, text).await })
            .buffer_unordered(16)
            .collect::<Vec<()>>()
            .await;
        {
            let mut objects = self.objects.lock().map_err(failed)?;
            for d in docs {
                objects.insert(d.path.clone(), (d.text.clone(), d.readers.clone()));
            }
        }
        self.write_acl().await
    }

    async fn edit(&self, path: &str, text: &str) -> HandleResult {
        let (_, readers) = self.entry(path)?;
        self.bucket.put(path, text).await;
        self.objects
            .lock()
            .map_err(failed)?
            .insert(path.to_string(), (text.to_string(), readers));
        Ok(())
    }

    async fn delete(&self, path: &str) -> HandleResult {
        self.bucket.delete(path).await;
        self.objects.lock().map_err(failed)?.remove(path);
        self.write_acl().await
    }

    async fn rename(&self, path: &str, new_name: &str) -> HandleResult {
        let to = match path.rsplit_once('/') {
            Some((folder, _)) => format!("{folder}/{new_name}"),
            None => new_name.to_string(),
        };
        self.relocate(path, &to).await
    }

    async fn move_to(&self, path: &str, folder: &str) -> HandleResult {
        let name = path.rsplit('/').next().unwrap_or(path);
        self.relocate(path, &format!("{folder}/{name}")).await
    }

    async fn set_readers(&self, path: &str, readers: &[Reader]) -> HandleResult {
        let (text, _) = self.entry(path)?;
        self.objects
            .lock()
            .map_err(failed)?
            .insert(path.to_string(), (text, readers.to_vec()));
        self.write_acl().await
    }

    async fn expire_cursor(&self) -> HandleResult {
        Err(HandleError::unsupported(
            "S3 has no change feed: every incremental sync lists the bucket",
        ))
    }

    async fn fault_storm(&self, on: bool) -> HandleResult<String> {
        let p = &self.proxy;
        p.clear();
        if !on {
            return Ok(format!(
                "{} of {} requests faulted",
                p.faulted(),
                p.seen().len()
            ));
        }
        {
            // Throttling with and without Retry-After, bursts of server errors, resets and
            // bodies that break off, on listings and downloads alike.
            let too_many = Fault::respond(
                429,
                "<Error><Code>TooManyRequests</Code><Message>slow down</Message></Error>",
            )
            .with_header("retry-after", "1");
            p.inject_every(s3::any, too_many, 7);
            p.inject_every(s3::any, Fault::slow_down(), 3);
            p.inject(s3::get_object, Fault::internal_error(), 4);
            p.inject_every(s3::get_object, Fault::internal_error(), 5);
            p.inject_every(s3::get_object, Fault::Reset, 7);
            p.inject_every(s3::list_objects, Fault::Reset, 4);
            p.inject_every(s3::list_objects, Fault::TruncateBody, 5);
            p.inject_every(s3::get_object, Fault::TruncateBody, 6);
        }
        Ok(
            "every 3rd request 503 SlowDown, every 7th a 429 with Retry-After, a burst of \
            four 500s then every 5th download, resets (every 7th download, every 4th list), \
            bodies broken off (every 5th list, every 6th download); no token expiry: the \
            test's static key is signed into each request (expired credentials are the \
            credentials_revoked misbehaviour)"
                .into(),
        )
    }

    async fn misbehave(&self, kind: Option<Misbehavior>) -> HandleResult {
        let p = &self.proxy;
        p.clear();
        let bucket = &self.bucket.name;
        let page = |body: String| Fault::respond(200, body);
        match kind {
            None => {}
            Some(Misbehavior::RepeatedPageToken) => p.inject_every(
                s3::list_objects,
                page(list_page(
                    bucket,
                    "<KeyCount>0</KeyCount><IsTruncated>true</IsTruncated>\
                     <ContinuationToken>same</ContinuationToken>\
                     <NextContinuationToken>same</NextContinuationToken>",
                )),
                1,
            ),
            Some(Misbehavior::MalformedBody) => {
                let whole = list_page(
                    bucket,
                    "<KeyCount>0</KeyCount><IsTruncated>false</IsTruncated>",
                );
                let cut = whole[..whole.len() / 2].to_string();
                p.inject_every(s3::list_objects, page(cut), 1);
            }
            Some(Misbehavior::WrongFieldTypes) => p.inject_every(
                s3::list_objects,
                page(list_page(
                    bucket,
                    "<KeyCount>many</KeyCount><IsTruncated>perhaps</IsTruncated>\
                     <Contents><Key>a.txt</Key><Size>large</Size><ETag>1</ETag>\
                     <LastModified>yesterday</LastModified></Contents>",
                )),
                1,
            ),
            Some(Misbehavior::CredentialsRevoked) => {
                p.inject_every(s3::any, Fault::status(400, "ExpiredToken"), 1)
            }
        }
        Ok(())
    }
}

struct S3Factory;

#[async_trait]
impl SourceFactory for S3Factory {
    async fn create(&self, scenario: &str) -> HandleResult<Box<dyn SourceHandle>> {
        let name: String = format!("kit-{scenario}").chars().take(40).collect();
        let bucket = Bucket::new(name.trim_end_matches('-')).await;
        bucket.put("acl.json", "[]").await;
        let proxy = proxy().await;
        let mut config = bucket.config(&proxy);
        config.page_size = PAGE_SIZE;
        config.attempt_timeout = Duration::from_secs(5);
        let connector = S3Connector::with_credentials(
            config,
            connector_s3::Credentials::new("test", "test", None, None, "tests"),
        )
        .map_err(|problems| failed(format!("{problems:?}")))?;
        Ok(Box::new(S3Handle {
            bucket,
            proxy,
            connector: Arc::new(connector),
            objects: Mutex::new(BTreeMap::new()),
        }))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_s3_connector_is_conformant() {
    let report = kit().run("s3 (moto)", &S3Factory).await;
    println!("{report}");
    assert_conformant(&report);
}
