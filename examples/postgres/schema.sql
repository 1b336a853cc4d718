-- A small billing database for the example config:
--   psql -h 127.0.0.1 -U postgres -d test -f examples/postgres/schema.sql
create schema if not exists billing;
set search_path = billing;
create table if not exists plans (id text primary key, name text, interval_unit text, interval_count int, currency text,
  updated_at timestamptz not null default now());
create table if not exists customers (id text primary key, name text, email text, country text,
  updated_at timestamptz not null default now());
create table if not exists invoices (id text primary key, customer_id text, plan_id text, kind text,
  invoice_date timestamptz, period_start timestamptz, period_end timestamptz, amount bigint, currency text,
  updated_at timestamptz not null default now());
insert into plans values ('pro', 'Pro', 'month', 1, 'usd'), ('pro_annual', 'Pro Annual', 'year', 1, 'usd')
  on conflict do nothing;
insert into customers values ('cus_1', 'Acme Inc', 'billing@acme.example', 'us'), ('cus_2', 'Beta GmbH', null, 'de')
  on conflict do nothing;
insert into invoices values
  ('in_1', 'cus_1', 'pro', 'subscription', '2024-01-01', '2024-01-01', '2024-02-01', 9900, 'usd'),
  ('in_2', 'cus_1', 'pro', 'subscription', '2024-02-01', '2024-02-01', '2024-03-01', 9900, 'usd'),
  ('in_3', 'cus_2', 'pro_annual', 'subscription', '2024-01-15', '2024-01-15', '2025-01-15', 120000, 'usd')
  on conflict do nothing;
