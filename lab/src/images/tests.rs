use sha2::{Digest, Sha256};

use super::probe::tests::{iso, raw_disk};
use super::{Ending, UPLOAD_IDLE_SECONDS};
use crate::model::{Compression, ImageFilter, ImageFormat, NewUpload, UploadState, Visibility};
use crate::testing::{admin, lab, user};
use crate::{Actor, Error, Lab};

pub(crate) fn new_upload(name: &str, length: Option<usize>) -> NewUpload {
    NewUpload {
        name: name.into(),
        visibility: "private".into(),
        length: length.map(|l| l as i64),
        ..Default::default()
    }
}

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Uploads `bytes` in one whole body; returns the new image's id.
pub(crate) async fn upload_whole(
    lab: &Lab,
    actor: &Actor,
    new: NewUpload,
    bytes: &[u8],
) -> crate::Result<i64> {
    let upload = lab.create_upload(actor, new).await?;
    let done = lab
        .append_upload(actor, &upload.id, 0, bytes, Ending::Whole)
        .await?;
    Ok(done.image_id.expect("a finished upload names its image"))
}

/// Files left under the image directory's partial area.
fn partial_files(dir: &tempfile::TempDir) -> Vec<String> {
    std::fs::read_dir(dir.path().join("images/.partial"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[tokio::test]
async fn a_resumable_upload_survives_a_restart_and_lands_whole_with_its_checksum() {
    let (lab, dir) = lab().await;
    let alice = user(&lab, "alice").await;
    let disk = raw_disk(3 << 20);
    let upload = lab
        .create_upload(
            &alice,
            NewUpload {
                sha256: sha256(&disk),
                ..new_upload("debian-12", Some(disk.len()))
            },
        )
        .await
        .unwrap();
    let first = lab
        .append_upload(&alice, &upload.id, 0, &disk[..1 << 20], Ending::Resumable)
        .await
        .unwrap();
    assert_eq!(
        (first.received, first.state),
        (1 << 20, UploadState::Receiving)
    );
    assert!(lab
        .images(&alice, &ImageFilter::default())
        .await
        .unwrap()
        .is_empty());

    // A client that lost track and resends from 0 is told where the upload stands.
    let err = lab
        .append_upload(&alice, &upload.id, 0, &disk[..10], Ending::Resumable)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("at offset 1048576"), "{err}");

    // After a restart (a new Lab on the same files) the checksum is rebuilt from disk.
    let url = lab.database_url().to_owned();
    let lab = Lab::open(
        &url,
        crate::SecretBox::new([1; 32]),
        dir.path().join("images"),
    )
    .await
    .unwrap();
    lab.recover_uploads(0).await.unwrap();
    let done = lab
        .append_upload(
            &alice,
            &upload.id,
            1 << 20,
            &disk[1 << 20..],
            Ending::Resumable,
        )
        .await
        .unwrap();
    assert_eq!(done.state, UploadState::Done);
    let image = lab.image(&alice, done.image_id.unwrap()).await.unwrap();
    assert_eq!(image.sha256, sha256(&disk));
    assert_eq!(
        (
            image.format,
            image.compression,
            image.stored_size,
            image.version
        ),
        (ImageFormat::Raw, Compression::None, disk.len() as i64, 1)
    );
    let file = lab.open_image(&alice, image.id).await.unwrap();
    assert_eq!(std::fs::read(&file.path).unwrap(), disk);
    assert!(partial_files(&dir).is_empty());
}

#[tokio::test]
async fn the_same_name_makes_a_new_version_and_old_versions_stay() {
    let (lab, _dir) = lab().await;
    let alice = user(&lab, "alice").await;
    let first = upload_whole(&lab, &alice, new_upload("ubuntu", None), &raw_disk(4096))
        .await
        .unwrap();
    let second = upload_whole(&lab, &alice, new_upload("ubuntu", None), &iso(20 * 2048))
        .await
        .unwrap();
    let versions = lab.image_versions(&alice, first).await.unwrap();
    let numbers: Vec<(i64, i64)> = versions.iter().map(|i| (i.id, i.version)).collect();
    assert_eq!(numbers, vec![(second, 2), (first, 1)]);
    let listed = lab.images(&alice, &ImageFilter::default()).await.unwrap();
    assert_eq!(
        listed.len(),
        1,
        "the list shows the newest version of a name"
    );
    assert_eq!(listed[0].format, ImageFormat::Iso);
    let all = ImageFilter {
        all_versions: true,
        ..Default::default()
    };
    assert_eq!(lab.images(&alice, &all).await.unwrap().len(), 2);
}

#[tokio::test]
async fn others_see_public_and_group_images_only() {
    let (lab, _dir) = lab().await;
    let shell = admin();
    let alice = user(&lab, "alice").await;
    let bob = user(&lab, "bob").await;
    let carol = user(&lab, "carol").await;
    lab.create_group(&shell, "team", "").await.unwrap();
    let team = lab.groups(&shell).await.unwrap()[0].id;
    lab.set_membership(&shell, team, alice.user_id.unwrap(), true)
        .await
        .unwrap();
    lab.set_membership(&shell, team, bob.user_id.unwrap(), true)
        .await
        .unwrap();

    let disk = raw_disk(4096);
    let private = upload_whole(&lab, &alice, new_upload("private", None), &disk)
        .await
        .unwrap();
    let shared = upload_whole(
        &lab,
        &alice,
        NewUpload {
            visibility: "group".into(),
            group: "team".into(),
            ..new_upload("shared", None)
        },
        &disk,
    )
    .await
    .unwrap();
    let public = upload_whole(
        &lab,
        &alice,
        NewUpload {
            visibility: "public".into(),
            ..new_upload("public", None)
        },
        &disk,
    )
    .await
    .unwrap();
    let names = |images: Vec<crate::model::Image>| {
        let mut names: Vec<String> = images.into_iter().map(|i| i.name).collect();
        names.sort();
        names
    };
    let filter = ImageFilter::default();
    assert_eq!(
        names(lab.images(&bob, &filter).await.unwrap()),
        ["public", "shared"]
    );
    assert_eq!(
        names(lab.images(&carol, &filter).await.unwrap()),
        ["public"]
    );
    assert_eq!(lab.images(&shell, &filter).await.unwrap().len(), 3);
    assert!(matches!(
        lab.image(&carol, shared).await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        lab.open_image(&bob, private).await,
        Err(Error::NotFound(_))
    ));
    assert!(!lab.image(&bob, public).await.unwrap().can_manage);
    assert!(matches!(
        lab.delete_image(&bob, public).await,
        Err(Error::Forbidden)
    ));

    // Carol is not in the team, so she cannot share with it.
    let err = lab
        .create_upload(
            &carol,
            NewUpload {
                visibility: "group".into(),
                group: "team".into(),
                ..new_upload("x", None)
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.field_errors()[0].field, "group");

    lab.update_image(&alice, private, "now for everyone", "public", "")
        .await
        .unwrap();
    assert_eq!(
        lab.image(&carol, private).await.unwrap().visibility,
        Visibility::Public
    );
    lab.delete_image(&alice, private).await.unwrap();
    assert!(matches!(
        lab.image(&alice, private).await,
        Err(Error::NotFound(_))
    ));
}

#[tokio::test]
async fn bad_content_fails_the_upload_and_leaves_nothing() {
    let (lab, dir) = lab().await;
    let alice = user(&lab, "alice").await;
    let disk = raw_disk(64 * 1024);

    let wrong_sum = NewUpload {
        sha256: "ab".repeat(32),
        ..new_upload("disk", None)
    };
    let err = upload_whole(&lab, &alice, wrong_sum, &disk)
        .await
        .unwrap_err();
    assert_eq!(err.field_errors()[0].field, "sha256", "{err}");

    let noise: Vec<u8> = (0..8192u32).map(|i| (i * 13 % 256) as u8).collect();
    let err = upload_whole(&lab, &alice, new_upload("noise", None), &noise)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown format"), "{err}");

    let claims_zstd = NewUpload {
        filename: "disk.raw.zst".into(),
        ..new_upload("disk", None)
    };
    let err = upload_whole(&lab, &alice, claims_zstd, &disk)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("promises zstd compression, but the content is not compressed"),
        "{err}"
    );

    let truncated = lab
        .create_upload(&alice, new_upload("disk", Some(disk.len())))
        .await
        .unwrap();
    let err = lab
        .append_upload(&alice, &truncated.id, 0, &disk[..1000], Ending::Whole)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("truncated: 1000 of 65536"),
        "{err}"
    );
    assert_eq!(
        lab.upload(&alice, &truncated.id).await.unwrap().state,
        UploadState::Failed
    );

    let too_long = lab
        .create_upload(&alice, new_upload("disk", Some(100)))
        .await
        .unwrap();
    let err = lab
        .append_upload(&alice, &too_long.id, 0, &disk[..], Ending::Resumable)
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("more bytes than the declared length"),
        "{err}"
    );

    for bad_name in ["../etc", "a/b", "a\\b", ".hidden", ""] {
        let err = lab
            .create_upload(&alice, new_upload(bad_name, None))
            .await
            .unwrap_err();
        assert_eq!(err.field_errors()[0].field, "name", "{bad_name:?}");
    }

    assert!(lab
        .images(&alice, &ImageFilter::default())
        .await
        .unwrap()
        .is_empty());
    assert!(partial_files(&dir).is_empty(), "{:?}", partial_files(&dir));
    let images: Vec<_> = std::fs::read_dir(dir.path().join("images"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(images, vec![std::ffi::OsString::from(".partial")]);
}

#[tokio::test]
async fn quotas_refuse_what_does_not_fit_whether_declared_or_streamed() {
    let (lab, dir) = lab().await;
    let shell = admin();
    let alice = user(&lab, "alice").await;
    lab.set_image_quota(&shell, alice.user_id.unwrap(), Some(100_000))
        .await
        .unwrap();
    let disk = raw_disk(60_000);
    upload_whole(&lab, &alice, new_upload("one", Some(disk.len())), &disk)
        .await
        .unwrap();
    let usage = lab.image_usage(&alice).await.unwrap();
    assert_eq!((usage.used, usage.quota), (60_000, 100_000));

    let err = lab
        .create_upload(&alice, new_upload("two", Some(disk.len())))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::QuotaExceeded(_)), "{err}");
    let err = upload_whole(&lab, &alice, new_upload("two", None), &disk)
        .await
        .unwrap_err();
    assert!(err.to_string().starts_with("over quota"), "{err}");
    assert!(partial_files(&dir).is_empty());

    lab.set_image_quota(&shell, alice.user_id.unwrap(), None)
        .await
        .unwrap();
    assert_eq!(
        lab.image_usage(&alice).await.unwrap().quota,
        crate::model::Limits::default().default_image_quota_bytes
    );
    assert!(matches!(
        lab.set_image_quota(&alice, alice.user_id.unwrap(), Some(1 << 40))
            .await,
        Err(Error::Forbidden)
    ));
}

#[tokio::test]
async fn a_compressed_raw_image_records_its_content_digest_and_a_damaged_stream_is_refused() {
    let (lab, dir) = lab().await;
    let alice = user(&lab, "alice").await;
    let disk = raw_disk(1 << 20);
    let compressed = zstd::encode_all(&disk[..], 3).unwrap();
    let id = upload_whole(&lab, &alice, new_upload("zst", None), &compressed)
        .await
        .unwrap();
    let image = lab.image(&alice, id).await.unwrap();
    assert_eq!(
        (image.sha256, image.content_sha256),
        (sha256(&compressed), sha256(&disk)),
        "the stored bytes' digest and the content's"
    );
    let plain = upload_whole(&lab, &alice, new_upload("plain", None), &disk)
        .await
        .unwrap();
    assert_eq!(
        lab.image(&alice, plain).await.unwrap().content_sha256,
        sha256(&disk)
    );

    // The zstd frame's last bytes lost: the content cannot be read back, so nothing lands.
    let damaged = &compressed[..compressed.len() - 16];
    let err = upload_whole(&lab, &alice, new_upload("damaged", None), damaged)
        .await
        .unwrap_err();
    assert_eq!(err.field_errors()[0].field, "content", "{err}");
    assert!(err.to_string().contains("does not decompress"), "{err}");
    assert_eq!(
        lab.images(&alice, &ImageFilter::default())
            .await
            .unwrap()
            .len(),
        2
    );
    assert!(partial_files(&dir).is_empty());
}

#[tokio::test]
async fn qcow2_is_converted_to_zstd_raw_at_ingest() {
    if std::process::Command::new("qemu-img")
        .arg("--version")
        .output()
        .is_err()
    {
        // Under ./dev test, which installs qemu-utils, not running is a failure.
        assert_ne!(
            std::env::var("BAAS_TEST_STRICT").as_deref(),
            Ok("1"),
            "qemu-img is not installed"
        );
        eprintln!("SKIPPED: qemu-img (Debian qemu-utils) is not installed");
        return;
    }
    let (lab, dir) = lab().await;
    let alice = user(&lab, "alice").await;
    let disk = raw_disk(2 << 20);
    let raw = dir.path().join("disk.raw");
    let qcow2 = dir.path().join("disk.qcow2");
    std::fs::write(&raw, &disk).unwrap();
    let status = std::process::Command::new("qemu-img")
        .args(["convert", "-q", "-f", "raw", "-O", "qcow2"])
        .arg(&raw)
        .arg(&qcow2)
        .status()
        .unwrap();
    assert!(status.success());
    let bytes = std::fs::read(&qcow2).unwrap();
    let id = upload_whole(&lab, &alice, new_upload("converted", None), &bytes)
        .await
        .unwrap();
    let image = lab.image(&alice, id).await.unwrap();
    assert_eq!(
        (image.format, image.compression, image.content_size),
        (ImageFormat::Raw, Compression::Zstd, Some(disk.len() as i64))
    );
    let stored = std::fs::read(lab.open_image(&alice, id).await.unwrap().path).unwrap();
    assert_eq!(
        image.sha256,
        sha256(&stored),
        "the checksum is of the bytes served"
    );
    assert_eq!(zstd::decode_all(&stored[..]).unwrap(), disk);
    assert!(partial_files(&dir).is_empty());
}

#[tokio::test]
async fn recovery_removes_orphans_and_cuts_uncommitted_bytes() {
    let (lab, dir) = lab().await;
    let alice = user(&lab, "alice").await;
    let disk = raw_disk(8192);
    let upload = lab
        .create_upload(&alice, new_upload("disk", Some(disk.len())))
        .await
        .unwrap();
    lab.append_upload(&alice, &upload.id, 0, &disk[..4096], Ending::Resumable)
        .await
        .unwrap();
    let part = dir
        .path()
        .join(format!("images/.partial/{}.part", upload.id));
    // Bytes written but never committed (a crash between write and commit).
    let mut bytes = std::fs::read(&part).unwrap();
    bytes.extend_from_slice(&[0xee; 100]);
    std::fs::write(&part, bytes).unwrap();
    std::fs::write(dir.path().join("images/.partial/stray.part"), b"x").unwrap();
    std::fs::write(dir.path().join("images/999.img"), b"orphan").unwrap();
    sqlx::query("UPDATE uploads SET state = 'processing' WHERE id <> $1")
        .bind(&upload.id)
        .execute(&lab.db)
        .await
        .unwrap();

    let url = lab.database_url().to_owned();
    let lab = Lab::open(
        &url,
        crate::SecretBox::new([1; 32]),
        dir.path().join("images"),
    )
    .await
    .unwrap();
    assert_eq!(lab.recover_uploads(0).await.unwrap(), 2);
    assert_eq!(std::fs::metadata(&part).unwrap().len(), 4096);
    assert!(!dir.path().join("images/999.img").exists());
    let done = lab
        .append_upload(&alice, &upload.id, 4096, &disk[4096..], Ending::Resumable)
        .await
        .unwrap();
    let image = lab.image(&alice, done.image_id.unwrap()).await.unwrap();
    assert_eq!(image.sha256, sha256(&disk));

    lab.cancel_upload(&alice, &upload.id).await.unwrap_err();
    let other = lab
        .create_upload(&alice, new_upload("other", Some(10)))
        .await
        .unwrap();
    lab.cancel_upload(&alice, &other.id).await.unwrap();
    assert!(matches!(
        lab.upload(&alice, &other.id).await,
        Err(Error::NotFound(_))
    ));
    assert!(partial_files(&dir).is_empty());
}

/// The leader's hourly clean-up on a lab of several instances: what another instance touched
/// within the hour is left alone (its uncommitted bytes too: it may be writing them now), what
/// is older is cut back to its committed bytes, what processed "forever" has failed, and an
/// upload without data for a day is abandoned and gives its space back.
#[tokio::test]
async fn the_leaders_cleanup_spares_what_was_touched_within_the_hour_and_abandons_idle_uploads() {
    let (lab, dir) = lab().await;
    let alice = user(&lab, "alice").await;
    let disk = raw_disk(8192);
    let part = |id: &str| dir.path().join(format!("images/.partial/{id}.part"));
    let now = crate::now();
    let mut ids = Vec::new();
    for name in ["fresh", "stale", "idle", "busy", "stale-busy"] {
        let upload = lab
            .create_upload(&alice, new_upload(name, Some(disk.len())))
            .await
            .unwrap();
        lab.append_upload(&alice, &upload.id, 0, &disk[..4096], Ending::Resumable)
            .await
            .unwrap();
        // Bytes written but not committed yet (by whichever instance is writing them).
        let mut bytes = std::fs::read(part(&upload.id)).unwrap();
        bytes.extend_from_slice(&[0xee; 100]);
        std::fs::write(part(&upload.id), bytes).unwrap();
        ids.push(upload.id);
    }
    let [fresh, stale, idle, busy, stale_busy] = <[String; 5]>::try_from(ids).unwrap();
    let set = |id: &str, state: &str, age: i64| {
        let (db, id, state) = (lab.db.clone(), id.to_string(), state.to_string());
        async move {
            sqlx::query("UPDATE uploads SET state = $2, updated_at = $3 WHERE id = $1")
                .bind(id)
                .bind(state)
                .bind(now - age)
                .execute(&db)
                .await
                .unwrap();
        }
    };
    set(&stale, "receiving", 7200).await;
    set(&idle, "receiving", UPLOAD_IDLE_SECONDS + 1).await;
    set(&busy, "processing", 0).await;
    set(&stale_busy, "processing", 7200).await;
    let used = lab.image_usage(&alice).await.unwrap().used;

    // The leader: another instance on the same database and image directory.
    let leader = Lab::open(
        lab.database_url(),
        crate::SecretBox::new([1; 32]),
        dir.path().join("images"),
    )
    .await
    .unwrap();
    leader.recover_uploads(3600).await.unwrap();

    let state = |id: &str| {
        let (leader, alice, id) = (leader.clone(), alice.clone(), id.to_string());
        async move { leader.upload(&alice, &id).await.unwrap() }
    };
    assert_eq!(std::fs::metadata(part(&fresh)).unwrap().len(), 4196);
    assert_eq!(state(&fresh).await.state, UploadState::Receiving);
    assert_eq!(state(&busy).await.state, UploadState::Processing);
    assert!(part(&busy).exists());
    assert_eq!(std::fs::metadata(part(&stale)).unwrap().len(), 4096);
    let failed = state(&stale_busy).await;
    assert_eq!(failed.state, UploadState::Failed);
    assert!(
        failed.error.contains("stopped while processing"),
        "{}",
        failed.error
    );
    let abandoned = state(&idle).await;
    assert_eq!(abandoned.state, UploadState::Failed);
    assert!(
        abandoned.error.contains("abandoned: no data for a day"),
        "{}",
        abandoned.error
    );
    assert!(!part(&idle).exists());
    assert!(matches!(
        leader
            .append_upload(&alice, &idle, 4096, &disk[4096..], Ending::Resumable)
            .await,
        Err(Error::Conflict(_))
    ));
    let now_used = leader.image_usage(&alice).await.unwrap().used;
    assert!(
        now_used < used,
        "the abandoned upload's space did not come back: {used} → {now_used}"
    );
}

/// A client retrying elsewhere: while one instance streams an append, another instance's
/// append to the same upload is refused before it writes a byte, and the image is the client's
/// bytes exactly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_append_on_another_instance_while_one_streams_is_refused_and_the_bytes_stay_right() {
    use tokio::io::AsyncWriteExt;
    let (lab, dir) = lab().await;
    let alice = user(&lab, "alice").await;
    let disk = raw_disk(4 << 20);
    let upload = lab
        .create_upload(&alice, new_upload("race", Some(disk.len())))
        .await
        .unwrap();
    // The other instance: its own process state, the same database and image directory.
    let other = Lab::open(
        lab.database_url(),
        crate::SecretBox::new([1; 32]),
        dir.path().join("images"),
    )
    .await
    .unwrap();
    let (mut sender, body) = tokio::io::duplex(64 << 10);
    let streaming = {
        let (lab, alice, id) = (lab.clone(), alice.clone(), upload.id.clone());
        tokio::spawn(async move {
            lab.append_upload(&alice, &id, 0, body, Ending::Resumable)
                .await
        })
    };
    sender.write_all(&disk[..1 << 20]).await.unwrap();
    let part = dir
        .path()
        .join(format!("images/.partial/{}.part", upload.id));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::fs::metadata(&part).unwrap().len() < 1 << 20 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first append wrote nothing"
        );
        tokio::task::yield_now().await;
    }

    let elsewhere = other
        .append_upload(&alice, &upload.id, 0, &disk[..2 << 20], Ending::Resumable)
        .await;
    assert!(
        matches!(elsewhere, Err(Error::Conflict(_))),
        "{elsewhere:?}"
    );
    assert_eq!(
        std::fs::metadata(&part).unwrap().len(),
        1 << 20,
        "the refused append wrote"
    );

    sender.write_all(&disk[1 << 20..2 << 20]).await.unwrap();
    drop(sender);
    let first = streaming.await.unwrap().unwrap();
    assert_eq!(first.received, 2 << 20);
    let done = other
        .append_upload(
            &alice,
            &upload.id,
            2 << 20,
            &disk[2 << 20..],
            Ending::Resumable,
        )
        .await
        .unwrap();
    let image = other.image(&alice, done.image_id.unwrap()).await.unwrap();
    assert_eq!(image.sha256, sha256(&disk));
    let stored = other.open_image(&alice, image.id).await.unwrap();
    assert!(
        std::fs::read(stored.path).unwrap() == disk,
        "the stored bytes are not the client's"
    );
}
