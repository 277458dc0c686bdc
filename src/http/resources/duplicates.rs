//! `GET /v1/patients/{id}/duplicates`: the people who may be the same
//! person as a patient, for a navigator to review (merging is not
//! offered). Read only; each one shown is a read of their data.

use axum::{Json, extract::State};
use sea_orm::{
    ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, prelude::Uuid,
};

use super::{common, declare::Shown, patients::View};
use crate::{
    db::{
        entities::patient::{self as table, Entity},
        store,
    },
    http::{
        ApiResult, AppState,
        access_log::Disclosed,
        auth::{Caller, Navigator},
        extract::ApiPath,
        pagination::Page,
    },
};

/// Most possible duplicates listed.
const MOST: u64 = 50;

/// Possible duplicates of a lead or patient (navigator): others with the
/// same phone number, or with the same first and last name and medical
/// condition under another email. Oldest first, at most 50.
#[utoipa::path(get, path = "/v1/patients/{id}/duplicates", tag = "patients",
    params(("id" = Uuid, Path)),
    responses((status = 200, body = Page<View>)),
    security(("bearer" = ["navigator"])))]
pub async fn get_patient_duplicates(
    State(state): State<AppState>,
    who: Caller<Navigator>,
    ApiPath(id): ApiPath<Uuid>,
) -> ApiResult<Disclosed<Json<Page<Shown<View>>>>> {
    let person = store::find::<Entity>(&state.db, id).await?;
    let mut alike = Condition::any();
    if let Some(phone) = &person.phone {
        alike = alike.add(table::Column::Phone.eq(phone.as_str()));
    }
    if let (Some(first), Some(last), Some(condition)) = (
        &person.first_name,
        &person.last_name,
        person.medical_condition_id,
    ) {
        let other_email = match &person.email {
            Some(email) => Condition::any()
                .add(table::Column::Email.ne(email.as_str()))
                .add(table::Column::Email.is_null()),
            None => Condition::all(),
        };
        alike = alike.add(
            Condition::all()
                .add(table::Column::LastName.eq(last.as_str()))
                .add(table::Column::FirstName.eq(first.as_str()))
                .add(table::Column::MedicalConditionId.eq(condition))
                .add(other_email),
        );
    }
    let found = if alike.is_empty() {
        Vec::new()
    } else {
        Entity::find()
            .filter(alike)
            .filter(table::Column::Id.ne(id))
            .order_by_asc(table::Column::Id)
            .limit(MOST)
            .all(&state.db)
            .await?
    };
    let (items, patients) = common::shown_all(&who, found);
    let page = Page {
        items,
        next_cursor: None,
        total: None,
    };
    Ok(Disclosed::new(&who, patients, Json(page)))
}

crate::handler_routes!(get_patient_duplicates);
