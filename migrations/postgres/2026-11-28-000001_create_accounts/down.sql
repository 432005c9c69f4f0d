-- Undoes create_accounts, dependents first.
DROP TABLE login_failures;
DROP TABLE refresh_tokens;
DROP TABLE contacts;
DROP TABLE user_locations;
DROP TABLE users;
