//! The tables, as diesel sees them. Both backends' migrations produce this same shape.

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        display_name -> Text,
        locale -> Text,
        role -> Text,
        created_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    user_locations (user_id) {
        user_id -> Text,
        lat -> Double,
        lon -> Double,
        accuracy_m -> Nullable<Double>,
        recorded_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    contacts (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        email -> Text,
        locale -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    refresh_tokens (id) {
        id -> Text,
        family_id -> Text,
        user_id -> Text,
        token_hash -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    login_failures (id) {
        id -> Text,
        scope -> Text,
        subject -> Text,
        attempted_at -> Timestamp,
    }
}

diesel::joinable!(user_locations -> users (user_id));
diesel::joinable!(contacts -> users (user_id));
diesel::joinable!(refresh_tokens -> users (user_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    user_locations,
    contacts,
    refresh_tokens,
    login_failures
);
