//! Which containers use an image, for `docker rmi` and `image prune`.

use std::sync::Weak;

use berth_image::{ImageUser, ImageUsers};

use crate::Engine;

/// The engine's answer to the image service's in-use question.
pub struct Users(pub Weak<Engine>);

impl ImageUsers for Users {
    fn containers_using(&self, image_id: &str) -> Vec<ImageUser> {
        let Some(engine) = self.0.upgrade() else {
            return Vec::new();
        };
        engine
            .containers
            .all()
            .into_iter()
            .filter(|c| c.with_config(|r| r.image_id == image_id))
            .map(|c| ImageUser {
                container_id: c.id.clone(),
                running: c.status().is_alive(),
            })
            .collect()
    }
}
