//! The machine page's virtual media panel.

use leptos::prelude::*;

use crate::api::media::{AttachMedia, DetachMedia, MediaOverview};
use crate::components::{form_status, ErrorBox, Time, BUTTON_SECONDARY, CARD, H2, TABLE, TD, TH};
use crate::error::AppError;

#[derive(Clone, Copy)]
pub(super) struct MediaControls {
    pub(super) attach: ServerAction<AttachMedia>,
    pub(super) detach: ServerAction<DetachMedia>,
    pub(super) attach_result: Signal<Option<Result<lab::model::MediaAttachment, AppError>>>,
    pub(super) detach_result: Signal<Option<Result<lab::model::MediaAttachment, AppError>>>,
    pub(super) wanted: RwSignal<bool>,
    pub(super) panel: LocalResource<Option<Result<MediaOverview, AppError>>>,
}

/// Virtual media through baas: what is attached, and (for those who may control the machine
/// now) attaching an ISO from the library and detaching it. Loaded after the page, like power.
pub(super) fn media_view(machine_id: i64, allowed: bool, controls: MediaControls) -> impl IntoView {
    let MediaControls {
        attach,
        detach,
        attach_result,
        detach_result,
        wanted,
        panel,
    } = controls;
    Effect::new(move |_| wanted.set(true));
    let select = "rounded-md border border-slate-300 px-2 py-1 text-sm dark:border-slate-700 dark:bg-slate-800";
    view! {
        <div class=format!("{CARD} mt-4") data-testid="media-panel">
            <h2 class=H2>"Virtual media"</h2>
            {form_status(attach_result, "Attached.")}
            {form_status(detach_result, "Detached.")}
            {move || match panel.try_get().flatten().flatten() {
                None => view! { <p class="text-sm text-slate-500">"Loading…"</p> }.into_any(),
                Some(Err(error)) => view! { <ErrorBox error/> }.into_any(),
                Some(Ok(panel)) => {
                    let live = panel.attachments.iter().any(|a| {
                        matches!(a.state, lab::model::MediaState::Attaching | lab::model::MediaState::Attached)
                    });
                    let rows = panel.attachments.into_iter().map(|a| {
                        let live = matches!(a.state, lab::model::MediaState::Attaching | lab::model::MediaState::Attached);
                        let button = (live && allowed).then(|| view! {
                            <ActionForm action=detach>
                                <input type="hidden" name="attachment_id" value=a.id/>
                                <button class=BUTTON_SECONDARY type="submit">"Detach"</button>
                            </ActionForm>
                        });
                        view! {
                            <tr>
                                <td class=TD>{a.image}</td>
                                <td class=TD>{a.username}</td>
                                <td class=TD data-testid="media-state">{a.state.as_str()}</td>
                                <td class=format!("{TD} text-xs")>{a.bmc_answer}</td>
                                <td class=format!("{TD} whitespace-nowrap")><Time at=a.created_at/></td>
                                <td class=format!("{TD} whitespace-nowrap")><Time at=a.expires_at/></td>
                                <td class=TD>{button}</td>
                            </tr>
                        }
                    }).collect_view();
                    let form = if !allowed {
                        view! { <p class="text-sm text-slate-500">"Attaching media is available during your own reservation."</p> }.into_any()
                    } else if live {
                        ().into_any()
                    } else if panel.isos.is_empty() {
                        view! { <p class="text-sm text-slate-500">"No ISO images you can use; " <a class="underline" href="/images/upload" rel="external">"upload one"</a>"."</p> }.into_any()
                    } else {
                        let options = panel.isos.into_iter().map(|(id, label)| view! { <option value=id>{label}</option> }).collect_view();
                        view! {
                            <ActionForm action=attach attr:class="flex flex-wrap items-center gap-2">
                                <input type="hidden" name="machine_id" value=machine_id/>
                                <label class="text-sm">"ISO image "<select class=select name="image_id">{options}</select></label>
                                <button class=BUTTON_SECONDARY type="submit">"Attach"</button>
                            </ActionForm>
                        }.into_any()
                    };
                    view! {
                        {form}
                        <div class="mt-3 overflow-x-auto" tabindex="0">
                            <table class=TABLE>
                                <thead><tr>
                                    <th class=TH>"Image"</th><th class=TH>"By"</th><th class=TH>"State"</th><th class=TH>"BMC said"</th>
                                    <th class=TH>"Since"</th><th class=TH>"URL expires"</th><th class=TH></th>
                                </tr></thead>
                                <tbody>{rows}</tbody>
                            </table>
                        </div>
                    }.into_any()
                }
            }}
        </div>
    }
}
