//! The image library: the list with search and filters, one image with its versions, and the
//! upload page. The upload itself (chunks, progress, resume) runs in `/upload.js` against the
//! tus endpoints, because a server function would have to hold the whole file in memory.

use lab::model::{format_bytes, Compression, Image, ImageFormat, ImageUsage, Visibility};
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::api::images::{image_detail, image_library, DeleteImage, UpdateImage};
use crate::components::{
    field_error, form_status, meter, ErrorBox, Time, BUTTON, BUTTON_DANGER, BUTTON_SECONDARY, CARD,
    H1, H2, INPUT, LABEL, TABLE, TD, TH,
};

fn usage_bar(usage: ImageUsage) -> impl IntoView {
    let percent = if usage.quota > 0 {
        (usage.used as f64 * 100.0 / usage.quota as f64).min(100.0)
    } else {
        100.0
    };
    view! {
        <div class="text-sm" data-testid="usage">
            <div class="mb-1">{format!("{} of {} used", format_bytes(usage.used), format_bytes(usage.quota))}</div>
            <div class="h-2 w-64 rounded bg-slate-200 dark:bg-slate-800">
                {meter(percent, "h-2", "fill-indigo-500")}
            </div>
        </div>
    }
}

fn visibility_label(image: &Image) -> String {
    match (&image.visibility, &image.group) {
        (Visibility::Group, Some(group)) => format!("group {group}"),
        (visibility, _) => visibility.as_str().to_string(),
    }
}

#[component]
pub fn ImagesPage() -> impl IntoView {
    let query = use_query_map();
    let param = move |name: &str| query.read().get(name).unwrap_or_default();
    let library = Resource::new(
        move || {
            (
                param("search"),
                param("format"),
                !param("mine").is_empty(),
                !param("all").is_empty(),
            )
        },
        |(search, format, mine, all)| image_library(search, format, mine, all),
    );
    let formats = move || {
        let selected = param("format");
        std::iter::once(("", "any format"))
            .chain(ImageFormat::ALL.iter().map(|f| (f.as_str(), f.as_str())))
            .map(|(value, label)| view! { <option value=value selected=selected == value>{label}</option> })
            .collect_view()
    };
    view! {
        <Title text="Images · baas"/>
        <div class="flex flex-wrap items-center gap-4">
            <h1 class=H1>"Images"</h1>
            <span class="flex-1"></span>
            <a class=BUTTON href="/images/upload" rel="external">"Upload an image"</a>
        </div>
        <form method="get" action="/images" class="mb-4 flex flex-wrap items-end gap-3">
            <label class=LABEL>"Search"<input class=INPUT name="search" value=move || param("search") placeholder="name or description"/></label>
            <label class=LABEL>"Format"<select class=INPUT name="format">{formats}</select></label>
            <label class="flex items-center gap-2 text-sm"><input type="checkbox" name="mine" checked=move || !param("mine").is_empty()/>"only mine"</label>
            <label class="flex items-center gap-2 text-sm"><input type="checkbox" name="all" checked=move || !param("all").is_empty()/>"all versions"</label>
            <button class=BUTTON_SECONDARY type="submit">"Filter"</button>
        </form>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match library.await {
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                    Ok(library) => {
                        let empty = library.images.is_empty();
                        let rows = library.images.into_iter().map(|image| view! {
                            <tr>
                                <td class=TD><a class="font-medium underline" href=format!("/images/{}", image.id)>{image.name.clone()}</a></td>
                                <td class=TD>{format!("v{}", image.version)}</td>
                                <td class=TD>{format!("{} · {}", image.format, image.compression)}</td>
                                <td class=TD>{format_bytes(image.stored_size)}</td>
                                <td class=TD>{image.owner.username.clone()}</td>
                                <td class=TD>{visibility_label(&image)}</td>
                                <td class=format!("{TD} whitespace-nowrap")><Time at=image.created_at/></td>
                                <td class=format!("{TD} font-mono text-xs") title=image.sha256.clone()>{image.sha256[..12].to_string()}</td>
                            </tr>
                        }).collect_view();
                        view! {
                            <div class="mb-4">{usage_bar(library.usage)}</div>
                            {empty.then(|| view! { <p class="text-slate-500">"No images match."</p> })}
                            <div class=format!("{CARD} overflow-x-auto") class:hidden=empty tabindex="0">
                                <table class=TABLE data-testid="images">
                                    <thead><tr>
                                        <th class=TH>"Name"</th><th class=TH>"Version"</th><th class=TH>"Format"</th><th class=TH>"Size"</th>
                                        <th class=TH>"Owner"</th><th class=TH>"Visible to"</th><th class=TH>"Created"</th><th class=TH>"SHA-256"</th>
                                    </tr></thead>
                                    <tbody>{rows}</tbody>
                                </table>
                            </div>
                        }.into_any()
                    }
                }
            })}
        </Suspense>
    }
}

fn visibility_fields(
    current: Visibility,
    group: Option<String>,
    groups: Vec<String>,
) -> impl IntoView {
    let options = Visibility::ALL
        .iter()
        .map(|v| view! { <option value=v.as_str() selected=*v == current>{v.as_str()}</option> })
        .collect_view();
    let group_options = groups
        .into_iter()
        .map(|g| {
            let selected = group.as_deref() == Some(g.as_str());
            view! { <option value=g.clone() selected=selected>{g.clone()}</option> }
        })
        .collect_view();
    view! {
        <label class=LABEL>"Visible to"<select class=INPUT name="visibility">{options}</select></label>
        <label class=LABEL>"Group (for group visibility)"
            <select class=INPUT name="group"><option value="">"—"</option>{group_options}</select>
        </label>
    }
}

#[component]
pub fn ImagePage() -> impl IntoView {
    let id = super::id_param();
    let update = ServerAction::<UpdateImage>::new();
    let delete = ServerAction::<DeleteImage>::new();
    let detail = Resource::new(
        move || (id(), update.version().get()),
        |(id, _)| image_detail(id),
    );
    Effect::new(move |_| {
        if let Some(Ok(())) = delete.value().get() {
            let _ = window().location().set_href("/images");
        }
    });
    view! {
        <Title text="Image · baas"/>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match detail.await {
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                    Ok(detail) => image_view(detail, update, delete).into_any(),
                }
            })}
        </Suspense>
    }
}

fn image_view(
    detail: crate::api::images::ImageWithVersions,
    update: ServerAction<UpdateImage>,
    delete: ServerAction<DeleteImage>,
) -> impl IntoView {
    let image = detail.image;
    let content_url = format!("/images/{}/content", image.id);
    let curl = format!(
        "curl -H \"Authorization: Bearer $BAAS_TOKEN\" -o {}-v{}.img <baas>{content_url}",
        image.name, image.version
    );
    let facts = [
        ("Owner", image.owner.username.clone()),
        ("Visible to", visibility_label(&image)),
        ("Format", image.format.to_string()),
        ("Compression", image.compression.to_string()),
        ("Stored size", format!("{} ({} bytes)", format_bytes(image.stored_size), image.stored_size)),
        ("Content size", image.content_size.map_or("unknown".into(), format_bytes)),
        ("Source", image.source.clone()),
    ]
    .into_iter()
    .map(|(term, value)| view! { <dt class="font-medium text-slate-500">{term}</dt><dd>{value}</dd> })
    .collect_view();
    let created_at = image.created_at;
    let last_used = match image.last_used_at {
        Some(at) => view! { <Time at/> }.into_any(),
        None => "never".into_any(),
    };
    let facts = view! {
        {facts}
        <dt class="font-medium text-slate-500">"Created"</dt><dd><Time at=created_at/></dd>
        <dt class="font-medium text-slate-500">"Last used"</dt><dd>{last_used}</dd>
    };
    let versions = detail
        .versions
        .into_iter()
        .map(|v| {
            let current = v.id == image.id;
            view! {
                <tr class:font-semibold=current>
                    <td class=TD><a class="underline" href=format!("/images/{}", v.id)>{format!("v{}", v.version)}</a></td>
                    <td class=TD>{format_bytes(v.stored_size)}</td>
                    <td class=TD><Time at=v.created_at/></td>
                    <td class=format!("{TD} font-mono text-xs")>{v.sha256[..12].to_string()}</td>
                </tr>
            }
        })
        .collect_view();
    // The digest a deploy's read-back is checked against, when it differs from the stored one.
    let content_sha256 = (image.compression != Compression::None
        && !image.content_sha256.is_empty())
    .then(|| {
        view! {
            <dt class="font-medium text-slate-500">"SHA-256 uncompressed"</dt>
            <dd class="break-all font-mono text-xs" data-testid="content-sha256">{image.content_sha256.clone()}</dd>
        }
    });
    let description = image.description.clone();
    let manage = image.can_manage.then(|| {
        view! {
            <div class=CARD>
                <h2 class=H2>"Change"</h2>
                {form_status(update.value(), "Saved.")}
                <ActionForm action=update attr:class="space-y-2">
                    <input type="hidden" name="id" value=image.id/>
                    <label class=LABEL>"Description"<textarea class=INPUT name="description" rows="3">{description}</textarea></label>
                    {field_error(update.value(), "description")}
                    {visibility_fields(image.visibility, image.group.clone(), detail.groups)}
                    {field_error(update.value(), "visibility")}
                    {field_error(update.value(), "group")}
                    <button class=BUTTON type="submit">"Save"</button>
                </ActionForm>
                <ActionForm action=delete attr:class="mt-4">
                    <input type="hidden" name="id" value=image.id/>
                    {form_status(delete.value(), "")}
                    <button class=BUTTON_DANGER type="submit">{format!("Delete version {}", image.version)}</button>
                </ActionForm>
            </div>
        }
    });
    view! {
        <h1 class=H1>{format!("{} v{}", image.name, image.version)}</h1>
        <p class="mb-4 whitespace-pre-line text-slate-600 dark:text-slate-400">{image.description.clone()}</p>
        <div class="grid gap-4 lg:grid-cols-3">
            <div class="space-y-4 lg:col-span-2">
                <div class=CARD>
                    <dl class="grid grid-cols-[max-content_1fr] gap-x-4 gap-y-1 text-sm">
                        {facts}
                        <dt class="font-medium text-slate-500">"SHA-256"</dt>
                        <dd class="break-all font-mono text-xs" data-testid="sha256">{image.sha256.clone()}</dd>
                        {content_sha256}
                    </dl>
                    <div class="mt-3 flex flex-wrap gap-2">
                        <a class=BUTTON_SECONDARY href=content_url.clone() rel="external" download>"Download"</a>
                    </div>
                    <p class="mt-3 text-xs text-slate-500">"From a script:"</p>
                    <pre class="overflow-x-auto rounded bg-slate-100 p-2 text-xs dark:bg-slate-800" tabindex="0">{curl}</pre>
                </div>
                <div class=format!("{CARD} overflow-x-auto") tabindex="0">
                    <h2 class=H2>"Versions"</h2>
                    <table class=TABLE>
                        <thead><tr><th class=TH>"Version"</th><th class=TH>"Size"</th><th class=TH>"Created"</th><th class=TH>"SHA-256"</th></tr></thead>
                        <tbody>{versions}</tbody>
                    </table>
                </div>
            </div>
            {manage}
        </div>
    }
}

#[component]
pub fn UploadPage() -> impl IntoView {
    let library = Resource::new(
        || (),
        |_| image_library(String::new(), String::new(), true, false),
    );
    view! {
        <Title text="Upload an image · baas"/>
        <h1 class=H1>"Upload an image"</h1>
        <Suspense fallback=|| view! { <p>"Loading…"</p> }>
            {move || Suspend::new(async move {
                match library.await {
                    Err(error) => view! { <ErrorBox error/> }.into_any(),
                    Ok(library) => upload_forms(library.usage, library.groups).into_any(),
                }
            })}
        </Suspense>
        <script type="module" src="/upload.js"></script>
    }
}

fn upload_forms(usage: ImageUsage, groups: Vec<String>) -> impl IntoView {
    let error_slot = |field: &'static str| {
        view! { <p class="mt-1 hidden text-sm text-rose-600 dark:text-rose-400" data-error-for=field></p> }
    };
    view! {
        <div class="mb-4">{usage_bar(usage)}</div>
        <div class="grid gap-4 lg:grid-cols-2">
            <form class=format!("{CARD} space-y-2") data-upload="file" novalidate>
                <h2 class=H2>"From this computer"</h2>
                <label class=LABEL>"File (raw disk, qcow2 or ISO; may be gzip, xz or zstd compressed)"
                    <input class=INPUT type="file" name="file" required/>
                </label>
                {error_slot("file")}
                <label class=LABEL>"Name (a new version if it exists)"<input class=INPUT name="name" required maxlength="64" placeholder="debian-12"/></label>
                {error_slot("name")}
                <label class=LABEL>"Description"<textarea class=INPUT name="description" rows="2"></textarea></label>
                {error_slot("description")}
                {visibility_fields(Visibility::Private, None, groups.clone())}
                {error_slot("visibility")}
                {error_slot("group")}
                <label class=LABEL>"Expected SHA-256 (optional)"<input class=INPUT name="sha256" maxlength="64" spellcheck="false"/></label>
                {error_slot("sha256")}
                {error_slot("content")}
                {error_slot("filename")}
                <div class="flex gap-2">
                    <button class=BUTTON type="submit" data-role="start">"Upload"</button>
                    <button class=BUTTON_SECONDARY type="button" data-role="resume" hidden>"Resume now"</button>
                    <button class=BUTTON_SECONDARY type="button" data-role="cancel" hidden>"Cancel"</button>
                </div>
                <div data-role="progress" hidden>
                    <div class="h-3 w-full rounded bg-slate-200 dark:bg-slate-800">
                        <div class="h-3 w-0 rounded bg-indigo-500 transition-all" data-role="bar"></div>
                    </div>
                    <p class="mt-1 text-sm tabular-nums" data-role="numbers" data-testid="upload-numbers"></p>
                </div>
                <p class="text-sm" role="status" data-role="status" data-testid="upload-status"></p>
            </form>
            <form class=format!("{CARD} space-y-2") data-upload="url" novalidate>
                <h2 class=H2>"From a URL"</h2>
                <p class="text-sm text-slate-500">"The server downloads the image itself; you can leave this page."</p>
                <label class=LABEL>"URL"<input class=INPUT name="url" type="url" required placeholder="https://…/disk.img.zst"/></label>
                {error_slot("url")}
                <label class=LABEL>"Name"<input class=INPUT name="name" required maxlength="64"/></label>
                {error_slot("name")}
                <label class=LABEL>"Description"<textarea class=INPUT name="description" rows="2"></textarea></label>
                {visibility_fields(Visibility::Private, None, groups)}
                {error_slot("group")}
                <label class=LABEL>"Expected SHA-256 (optional)"<input class=INPUT name="sha256" maxlength="64" spellcheck="false"/></label>
                {error_slot("sha256")}
                {error_slot("content")}
                <button class=BUTTON type="submit" data-role="start">"Import"</button>
                <div data-role="progress" hidden>
                    <div class="h-3 w-full rounded bg-slate-200 dark:bg-slate-800">
                        <div class="h-3 w-0 rounded bg-indigo-500 transition-all" data-role="bar"></div>
                    </div>
                    <p class="mt-1 text-sm tabular-nums" data-role="numbers"></p>
                </div>
                <p class="text-sm" role="status" data-role="status"></p>
            </form>
        </div>
        <div class=format!("{CARD} mt-4 text-sm")>
            <h2 class=H2>"From a shell"</h2>
            <p>"Create an API token under " <a class="underline" href="/account">"My account"</a> ", then:"</p>
            <pre class="mt-2 overflow-x-auto rounded bg-slate-100 p-2 text-xs dark:bg-slate-800" tabindex="0">
                "curl -T disk.raw.zst -H \"Authorization: Bearer $BAAS_TOKEN\" \\\n     \"<baas>/api/v1/images/debian-12?visibility=private&sha256=$(sha256sum disk.raw.zst | cut -d' ' -f1)\""
            </pre>
        </div>
    }
}
