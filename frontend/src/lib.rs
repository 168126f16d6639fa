//! Browser entry point: hydrates the page the server rendered.

use leptos::mount::hydrate_from_async;
use leptos::prelude::*;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazy routes hydrate asynchronously: the chunk of the page being shown is fetched first.
    _ = any_spawner::Executor::init_wasm_bindgen();
    leptos::task::spawn_local(async {
        let Some(body) = document().body() else {
            return;
        };
        hydrate_from_async(body.clone(), app::App).await.forget();
        // Lets browser tests (and curious humans) tell when the page has become interactive.
        let _ = body.set_attribute("data-hydrated", "true");
    });
}
