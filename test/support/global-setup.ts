// Placeholder until the database harness lands: it will start one PostgreSQL 15
// and one MariaDB 10.11 for the whole run and hand their addresses to tests.
export default async function setup(): Promise<void> {}
