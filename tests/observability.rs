//! End-to-end tests of the observability tier and the drift job: the real `hactl` binary
//! against the emulator, effects verified with the AWS SDK (CloudWatch, SNS, ECS, EC2).

mod common;

use common::*;
use serde_json::Value as J;
use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::{Duration, Instant};

async fn cloudwatch() -> aws_sdk_cloudwatch::Client {
    aws_sdk_cloudwatch::Client::new(&sdk().await)
}

/// The latest `DriftedResources` value of the stack (Maximum over the last hour), via
/// GetMetricData.
async fn drift_metric(cw: &aws_sdk_cloudwatch::Client, stack: &str) -> Option<f64> {
    use aws_sdk_cloudwatch::types::{Dimension, Metric, MetricDataQuery, MetricStat};
    let now = std::time::SystemTime::now();
    let query = MetricDataQuery::builder()
        .id("drift")
        .metric_stat(
            MetricStat::builder()
                .metric(
                    Metric::builder()
                        .namespace("hactl")
                        .metric_name("DriftedResources")
                        .dimensions(Dimension::builder().name("Stack").value(stack).build())
                        .build(),
                )
                .period(60)
                .stat("Maximum")
                .build(),
        )
        .build();
    let out = cw
        .get_metric_data()
        .metric_data_queries(query)
        .start_time(aws_smithy_types::DateTime::from(now - Duration::from_secs(3600)))
        .end_time(aws_smithy_types::DateTime::from(now + Duration::from_secs(60)))
        .send()
        .await
        .expect("GetMetricData");
    out.metric_data_results().first().and_then(|r| r.values().iter().copied().reduce(f64::max))
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_metrics_puts_drifted_resources() {
    let s = Stack::new("obs-metric");
    let cw = cloudwatch().await;
    s.ok(&["apply", "--auto-approve"], 0);

    s.ok(&["drift", "--publish-metrics"], 0);
    let metrics = cw
        .list_metrics()
        .namespace("hactl")
        .metric_name("DriftedResources")
        .dimensions(
            aws_sdk_cloudwatch::types::DimensionFilter::builder().name("Stack").value(&s.name).build(),
        )
        .send()
        .await
        .expect("ListMetrics");
    assert_eq!(metrics.metrics().len(), 1, "{metrics:?}");
    assert_eq!(drift_metric(&cw, &s.name).await, Some(0.0));

    // One resource changed outside hactl: a tag on the VPC.
    let vpc = s.state()["resources"]["vpc.main"]["id"].as_str().unwrap().to_string();
    aws_cli(&["ec2", "create-tags", "--resources", &vpc, "--tags", "Key=owner,Value=someone-else"]);
    let r = s.ok(&["drift", "--json", "--publish-metrics"], 2);
    let report: J = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["changed"].as_array().unwrap().len(), 1, "{report}");
    assert_eq!(drift_metric(&cw, &s.name).await, Some(1.0));

    s.ok(&DESTROY_ALL, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn watch_runs_each_interval_and_stops_on_sigterm() {
    let s = Stack::new("obs-watch");
    s.ok(&["apply", "--auto-approve"], 0);

    let mut child = s
        .command(&["--log-format", "json", "drift", "--watch", "--interval", "1s"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn hactl drift --watch");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut runs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while runs.len() < 2 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) {
            let v: J = serde_json::from_str(&line).unwrap_or_else(|_| panic!("not a JSON log line: {line}"));
            if v["message"] == "drift run" {
                runs.push(v);
            }
        }
    }
    assert_eq!(runs.len(), 2, "two runs within 30 s");
    for (i, r) in runs.iter().enumerate() {
        assert_eq!(r["run"], J::from(i as u64 + 1));
        assert_eq!(r["stack"], J::from(s.name.as_str()));
        assert_eq!(r["drifted"], J::from(0));
        assert_eq!(r["level"], "INFO");
        assert!(r["timestamp"].as_str().is_some_and(|t| t.ends_with('Z')), "{r}");
    }

    let pid = child.id().to_string();
    let sent = Instant::now();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(sent.elapsed() < Duration::from_secs(5), "still running 5 s after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(0), "exit 0 on SIGTERM");
    assert!(took < Duration::from_secs(1), "stopped {took:?} after SIGTERM");

    // The lock is not held between runs: the stack can be destroyed right away.
    s.ok(&DESTROY_ALL, 0);
}

#[test]
fn intervals_are_parsed_and_bad_ones_refused() {
    let s = Stack::new("obs-interval");
    let r = s.run(&["drift", "--watch", "--interval", "5x"]);
    assert_eq!(r.code, 2, "clap usage error: {}", r.stderr);
    assert!(r.stderr.contains("unknown unit"), "{}", r.stderr);
    let r = s.run(&["drift", "--watch", "--interval", "0s"]);
    assert!(r.stderr.contains("at least 1s"), "{}", r.stderr);
}
