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
        cell -> BigInt,
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

diesel::table! {
    incidents (id) {
        id -> Text,
        title -> Text,
        description -> Nullable<Text>,
        area -> Text,
        status -> Text,
        created_by -> Nullable<Text>,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        resolved_at -> Nullable<Timestamp>,
        resolved_by -> Nullable<Text>,
        resolution -> Nullable<Text>,
        location_cutoff -> Timestamp,
        fanout_cursor -> Nullable<Text>,
        fanout_done -> Bool,
        fanout_prompts -> BigInt,
        fanout_lease_until -> Nullable<Timestamp>,
    }
}

diesel::table! {
    incident_notes (incident_id) {
        incident_id -> Text,
        note -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    prompts (incident_id, user_id) {
        incident_id -> Text,
        user_id -> Text,
        source -> Text,
        created_at -> Timestamp,
        closed_at -> Nullable<Timestamp>,
        closed_reason -> Nullable<Text>,
        reminders_sent -> Integer,
        last_reminded_at -> Nullable<Timestamp>,
        email_state -> Nullable<Text>,
        email_attempts -> Integer,
        email_next_at -> Nullable<Timestamp>,
        email_lease_until -> Nullable<Timestamp>,
        email_error -> Nullable<Text>,
        email_sent_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    audit_log (id) {
        id -> Text,
        at -> Timestamp,
        actor_id -> Nullable<Text>,
        actor_email -> Nullable<Text>,
        action -> Text,
        incident_id -> Nullable<Text>,
        details -> Text,
    }
}

diesel::table! {
    check_ins (id) {
        id -> Text,
        incident_id -> Text,
        user_id -> Text,
        status -> Text,
        message -> Nullable<Text>,
        created_at -> Timestamp,
        handled_at -> Nullable<Timestamp>,
        handled_by -> Nullable<Text>,
    }
}

diesel::table! {
    responses (incident_id, user_id) {
        incident_id -> Text,
        user_id -> Text,
        status -> Text,
        message -> Nullable<Text>,
        check_in_id -> Text,
        answered_at -> Timestamp,
    }
}

diesel::table! {
    notifications (id) {
        id -> Text,
        kind -> Text,
        recipient_email -> Text,
        recipient_name -> Nullable<Text>,
        locale -> Text,
        incident_id -> Nullable<Text>,
        user_id -> Nullable<Text>,
        payload -> Text,
        state -> Text,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        lease_until -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        created_at -> Timestamp,
        sent_at -> Nullable<Timestamp>,
        dedupe_key -> Text,
    }
}

diesel::table! {
    idempotency_keys (user_id, key) {
        user_id -> Text,
        key -> Text,
        request_hash -> Text,
        response_status -> Nullable<Integer>,
        response_body -> Nullable<Text>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    suppressions (email) {
        email -> Text,
        created_at -> Timestamp,
    }
}

diesel::joinable!(prompts -> incidents (incident_id));
diesel::joinable!(prompts -> users (user_id));
diesel::joinable!(responses -> users (user_id));
diesel::joinable!(check_ins -> incidents (incident_id));

diesel::allow_tables_to_appear_in_same_query!(
    users,
    user_locations,
    contacts,
    refresh_tokens,
    login_failures,
    incidents,
    incident_notes,
    prompts,
    audit_log,
    check_ins,
    responses,
    notifications,
    idempotency_keys,
    suppressions,
);
