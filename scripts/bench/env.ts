/**
 * Imported first by scripts/bench.ts: quiets the product's INFO logs (its logger reads LOG_LEVEL
 * once, when first imported) so stdout carries only the report. Child processes inherit it.
 */
process.env.LOG_LEVEL ??= 'warn';
