//! `baas images [list|upload|rm]`: the caller's image library.

use lab::model::Image;
use lab::rest_api::Paged;
use reqwest::Method;

use super::commands::{image_id, ImageCommand};
use super::output::show;
use super::{Client, Result};

pub(super) async fn run(client: &Client, json: bool, command: Option<ImageCommand>) -> Result<()> {
    match command.unwrap_or(ImageCommand::List) {
        ImageCommand::List => {
            let images: Paged<Image> = client.get("/api/v1/images?limit=1000").await?;
            let rows = images.items.iter().map(image_row).collect();
            show(
                json,
                &images,
                &["id", "name", "version", "format", "size", "owner"],
                rows,
            );
        }
        ImageCommand::Upload {
            file,
            name,
            visibility,
            max_rate,
        } => {
            let image =
                super::upload::upload(client, &file, &name, &visibility, max_rate, json).await?;
            show(
                json,
                &image,
                &["id", "name", "version", "format", "size", "owner"],
                vec![image_row(&image)],
            );
        }
        ImageCommand::Rm { image } => {
            let id = image_id(client, &image).await?;
            client
                .act::<()>(Method::DELETE, &format!("/api/v1/images/{id}"), None)
                .await?;
            if !json {
                println!("image {id} deleted");
            }
        }
    };
    Ok(())
}

pub(super) fn image_row(i: &Image) -> Vec<String> {
    vec![
        i.id.to_string(),
        i.name.clone(),
        format!("v{}", i.version),
        format!("{} · {}", i.format, i.compression),
        super::output::bytes(i.stored_size as u64),
        i.owner.username.clone(),
    ]
}
