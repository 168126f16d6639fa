//! The Redfish driver against sushy-tools' emulator over HTTPS with a self-signed certificate:
//! power (applied 1–11 s later by the emulator, so polled), boot override, identity; wrong
//! passwords, wrong pins and unverifiable certificates fail clearly.

use std::time::{Duration, Instant};

use bmc::testing::RedfishEmulator;
use bmc::{Bmc, BootDevice, BootOverride, Error, PowerAction, PowerState, Redfish, Tls};

async fn wait_for(driver: &Redfish, wanted: PowerState) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = driver.power_state().await.unwrap();
        if state == wanted {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "power state stayed {state:?}, wanted {wanted:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test]
async fn power_boot_override_and_identity_through_a_pinned_https_session() {
    let emulator = RedfishEmulator::start();
    let driver = emulator.ready().await;
    let info = driver.device_info().await.unwrap();
    assert!(info.protocol.starts_with("Redfish "), "{info}");

    assert_eq!(driver.power_state().await.unwrap(), PowerState::Off);
    driver.power(PowerAction::On).await.unwrap();
    wait_for(&driver, PowerState::On).await;
    driver.power(PowerAction::Off).await.unwrap();
    wait_for(&driver, PowerState::Off).await;

    driver
        .set_boot(BootOverride {
            device: BootDevice::Pxe,
            persistent: false,
            uefi: true,
        })
        .await
        .unwrap();
    let system = system_as_curl_sees_it(&emulator).await;
    assert_eq!(system["Boot"]["BootSourceOverrideTarget"], "Pxe");
    assert_eq!(system["Boot"]["BootSourceOverrideMode"], "UEFI");
}

/// The system as the emulator reports it, read with curl so the check does not trust our driver.
async fn system_as_curl_sees_it(emulator: &RedfishEmulator) -> serde_json::Value {
    let url = format!(
        "https://127.0.0.1:{}/redfish/v1/Systems/27946b59-9e44-4fa7-8e91-f3527a1ef094",
        emulator.port
    );
    let output = std::process::Command::new("curl")
        .args(["-sk", "-u", "admin:password", &url])
        .output()
        .unwrap();
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test]
async fn wrong_password_wrong_pin_and_unverifiable_certificates_are_refused() {
    let emulator = RedfishEmulator::start();
    emulator.ready().await;

    let wrong_password =
        Redfish::new(emulator.target("nope"), Tls::Pinned(emulator.fingerprint)).unwrap();
    let err = wrong_password.power_state().await.unwrap_err();
    assert!(matches!(err, Error::Authentication { .. }), "{err}");

    let mut other = emulator.fingerprint;
    other[0] ^= 0xff;
    let wrong_pin = Redfish::new(emulator.target("password"), Tls::Pinned(other)).unwrap();
    let err = wrong_pin.power(PowerAction::On).await.unwrap_err();
    assert!(err.to_string().contains("pinned fingerprint"), "{err}");

    let public_pki = Redfish::new(emulator.target("password"), Tls::Verify).unwrap();
    let err = public_pki.power_state().await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
}
