//! `/v1/staff`: staff accounts and their roles (admins only).

use axum::Json;
use axum::extract::{Path, State};
use emporium_customers::StaffChange;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Can, caps};
use crate::error::{ApiError, Problem};
use crate::extract::{ApiJson, ApiQuery};
use crate::infra::idempotency::{Answer, Idempotency};
use crate::rest::IdempotencyKey;
use crate::state::AppState;
use crate::usecases::accounts::{self, RoleDto, StaffDto};

/// `POST /v1/staff`.
// Not `Debug`: it holds a password.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaffDto {
    #[schema(example = "sam@shop.example", format = "email", max_length = 254)]
    pub email: String,
    /// At least 10 characters.
    #[schema(min_length = 10, max_length = 1024)]
    pub password: String,
    pub role: RoleDto,
}

/// `PATCH /v1/staff/{staff_id}`: a new role, or `disabled` to lock the account out (its
/// tokens stop working within seconds; its sessions are revoked).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffPatchDto {
    pub role: Option<RoleDto>,
    pub disabled: Option<bool>,
}

/// A page of staff accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct StaffPage {
    pub data: Vec<StaffDto>,
    pub next_cursor: Option<String>,
}

/// Query parameters of `GET /v1/staff`.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct StaffListParams {
    /// Page size (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Create a staff account with a role (admin).
#[utoipa::path(
    post, path = "/v1/staff", tag = "staff", operation_id = "create_staff",
    params(IdempotencyKey),
    request_body = NewStaffDto,
    responses(
        (status = 201, description = "Created", body = StaffDto),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`email_taken`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn create_staff(
    State(state): State<AppState>,
    _: Can<caps::StaffManage>,
    idempotency: Idempotency,
    ApiJson(body): ApiJson<NewStaffDto>,
) -> Result<Answer, ApiError> {
    Ok(accounts::create_staff(&state, &idempotency, &body.email, body.password, body.role.into()).await?.1)
}

/// List staff accounts, oldest first (admin).
#[utoipa::path(
    get, path = "/v1/staff", tag = "staff", operation_id = "list_staff",
    params(StaffListParams),
    responses(
        (status = 200, description = "A page of staff accounts", body = StaffPage),
        (status = 422, description = "A bad parameter or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn list_staff(
    State(state): State<AppState>,
    _: Can<caps::StaffManage>,
    ApiQuery(params): ApiQuery<StaffListParams>,
) -> Result<Json<StaffPage>, ApiError> {
    let (limit, cursor) = crate::rest::page_params(params.limit.as_deref(), params.cursor);
    let page = accounts::list_staff(&state, limit, cursor.as_deref(), "limit").await?;
    Ok(Json(StaffPage { data: page.items, next_cursor: page.next_cursor }))
}

/// Change a staff account's role, or disable it (admin).
#[utoipa::path(
    patch, path = "/v1/staff/{staff_id}", tag = "staff", operation_id = "update_staff",
    params(("staff_id" = String, Path, description = "Staff account id")),
    request_body = StaffPatchDto,
    responses(
        (status = 200, description = "The account", body = StaffDto),
        (status = 401, description = "No staff token", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such account", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "`last_admin`", body = Problem, content_type = "application/problem+json"),
    ),
    security(("bearer" = []))
)]
pub async fn update_staff(
    State(state): State<AppState>,
    _: Can<caps::StaffManage>,
    Path(staff_id): Path<String>,
    ApiJson(body): ApiJson<StaffPatchDto>,
) -> Result<Json<StaffDto>, ApiError> {
    let change = StaffChange { role: body.role.map(Into::into), disabled: body.disabled };
    Ok(Json(accounts::change_staff(&state, &staff_id, change).await?))
}
