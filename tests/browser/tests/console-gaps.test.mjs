// The console's gaps of issue 24, end to end in headless Chromium against the real service
// (started by ../run.sh): a new case starts from the order number the ticket already shows; an
// empty submit flags every missing field at once and focuses the first; escalation reasons and
// intents read as words in both languages; a complaint shows its two SLA clocks (when the
// service keeps them); the auto-answer chart leaves hours without messages blank instead of
// drawing 0%. (The rating's comment in inspection and the scorecard's explanation are told in
// aftersales-story.test.mjs, where the rating happens.)
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { SHOP, AGENT_TOKEN, launchBrowser, openPage, shot, shopperSays, signIn, agentApi } from '../lib.mjs';

const ORDER = '4102938475619988';
const ASK_PERSON = `I want to talk to a human agent about my order number ${ORDER}`;

let browser;
const dialogs = [];
let page;
let ticketId;

const newPage = (opts) => openPage(browser, dialogs, opts);

before(async () => {
  browser = await launchBrowser();
  page = await newPage();
  await signIn(page, AGENT_TOKEN);
});

after(async () => {
  await browser?.close();
});

async function openTicket(id) {
  const item = page.locator(`#queue li[data-id="${id}"]`);
  await item.waitFor({ timeout: 10_000 });
  await item.click();
  await page.locator('#ticket').waitFor();
  await page.locator('[data-testid="case-panel"]').waitFor();
}

const detail = (label) => page.locator('#details dt', { hasText: label }).locator('xpath=following-sibling::dd[1]');

test('"Create case" starts from the order number the ticket already shows', async () => {
  const shopper = await newPage();
  const answer = await shopperSays(shopper, ASK_PERSON);
  assert.equal(answer.decision, 'escalated', JSON.stringify(answer));
  ticketId = answer.ticket_id;
  // the premise: the service read the order number, and no rule drafted a case
  const tk = (await agentApi(`/v1/tickets/${encodeURIComponent(ticketId)}`)).body;
  assert.deepEqual(tk.extracted.order_numbers, [ORDER]);
  assert.equal((await agentApi(`/v1/tickets/${encodeURIComponent(ticketId)}/case`)).status, 404);

  await openTicket(ticketId);
  assert.equal(await detail('Order numbers').textContent(), ORDER);
  const panel = page.locator('[data-testid="case-panel"]');
  await panel.locator('[data-testid="case-create"]').click();
  await panel.locator('#case-form').waitFor();
  assert.equal(await panel.locator('#case-order_number').inputValue(), ORDER);
  assert.deepEqual(await panel.locator('#case-order-suggestions option').evaluateAll((os) => os.map((o) => o.value)), [ORDER]);
  assert.equal(await page.evaluate(() => document.activeElement.id), 'case-type', 'the type, the first field, has the focus');
  await shot(page, 'gaps-case-prefilled.png');
});

test('an empty submit flags every missing field at once, focuses the first, and Tab follows the form', async () => {
  const panel = page.locator('[data-testid="case-panel"]');
  await panel.locator('#case-order_number').fill('');
  const refused = page.waitForResponse((r) => r.url().endsWith(`/v1/tickets/${ticketId}/case/submit`) && r.request().method() === 'POST');
  await panel.locator('[data-testid="case-submit"]').click();
  const res = await refused;
  assert.equal(res.status(), 422);
  const fields = (await res.json()).error.fields;
  const common = ['type', 'reason', 'responsibility', 'order_number'];
  assert.deepEqual(Object.keys(fields).sort(), [...common].sort(), JSON.stringify(fields));

  await panel.locator('[data-field-error="order_number"]', { hasText: 'required' }).waitFor();
  for (const f of common) {
    assert.equal(await panel.locator(`[data-field-error="${f}"]`).textContent(), 'required', f);
    assert.equal(await panel.locator('#case-' + f).getAttribute('aria-invalid'), 'true', f);
  }
  for (const f of ['items', 'refund_amount', 'tracking_number', 'evidence', 'note']) {
    assert.equal(await panel.locator(`[data-field-error="${f}"]`).textContent(), '', f);
    assert.equal(await panel.locator('#case-' + f).getAttribute('aria-invalid'), null, f);
  }
  assert.equal(await page.evaluate(() => document.activeElement.id), 'case-type');
  // the natural order: every flagged field is reached with Tab, the order number included
  for (const next of ['case-reason', 'case-responsibility', 'case-order_number']) {
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.activeElement.id), next);
  }
  await shot(page, 'gaps-case-all-flagged.png');

  // the required marks follow the service's rule (GET /v1/cases/requirements) as the type changes
  const rule = (await agentApi('/v1/cases/requirements')).body;
  const marked = async () => (await panel.locator('.field.required [name]').evaluateAll((ns) => ns.map((n) => n.name))).sort();
  assert.deepEqual(await marked(), [...rule.always].sort());
  await panel.locator('#case-type').selectOption('return_refund');
  assert.deepEqual(await marked(), [...rule.always, ...rule.by_type.return_refund].sort());
  assert.deepEqual(rule.by_type.return_refund, ['items', 'refund_amount']);
  assert.equal(await panel.locator('[data-field-error="type"]').textContent(), '', 'choosing a type clears its error');
  assert.equal(await panel.locator('#case-type').getAttribute('aria-invalid'), null);
  assert.equal(await panel.locator('[data-field-error="reason"]').textContent(), 'required', 'the others stay flagged');
});

test('escalation reasons and intents read as words in both languages, never as ids', async () => {
  // the reasons on this run's queue and the three that had no label (the full list of the
  // server's reasons is checked against i18n.js by a unit test in src/console/mod.rs)
  const open = (await agentApi(`/v1/tickets?shop=${SHOP}&status=open`)).body.tickets;
  const reasons = [...new Set([...open.map((t) => t.reason), 'no_confident_answer', 'repeat_question', 'conversation_with_agent'])];
  const labels = await page.evaluate((rs) => {
    const I = window.SmartreplyI18n, was = I.lang;
    const of = (l) => { I.lang = l; return rs.map((r) => I.t('reason.' + r)); };
    const out = { en: of('en'), zh: of('zh') };
    I.lang = was;
    return out;
  }, reasons);
  reasons.forEach((r, i) => {
    assert.notEqual(labels.en[i], 'reason.' + r, `${r} has an English label`);
    assert.match(labels.zh[i], /[\u4e00-\u9fff]/, `${r} has a Chinese label, not the English fallback`);
  });

  // this ticket: asked for a person, about an order
  const tk = (await agentApi(`/v1/tickets/${encodeURIComponent(ticketId)}`)).body;
  const intent = typeof tk.intent === 'object' ? tk.intent.name : tk.intent;
  assert.equal(intent, 'human_agent', JSON.stringify(tk.intent));
  const chip = page.locator(`#queue li[data-id="${ticketId}"] .chip.intent`);
  assert.equal(await chip.textContent(), 'Asks for a person');
  assert.equal(await chip.getAttribute('title'), 'human_agent', 'the id stays at hand');
  assert.match(await detail('Intent').textContent(), /^Asks for a person · \d+%$/);

  await page.locator('.topbar [data-lang-toggle]').click();
  await page.locator('#tab-queue', { hasText: '工单队列' }).waitFor();
  assert.equal(await chip.textContent(), '要求人工');
  assert.match(await detail('意图').textContent(), /^要求人工 · \d+%$/);
  for (const c of await page.locator('#queue .chip.reason, #queue .chip.intent').allTextContents()) {
    assert.doesNotMatch(c, /[a-z]_[a-z]/, `no raw id in the queue: ${c}`);
  }
  await shot(page, 'gaps-labels-zh.png');
  await page.locator('.topbar [data-lang-toggle]').click();
  await page.locator('#tab-queue', { hasText: 'Queue' }).waitFor();
});

test('a complaint shows both SLA clocks: the first human response and the settlement', async (t) => {
  const shopper = await newPage();
  const answer = await shopperSays(shopper, '太过分了！东西坏了也没人管，我要投诉你们！');
  assert.equal(answer.decision, 'escalated', JSON.stringify(answer));
  const id = answer.ticket_id;
  const tk = (await agentApi(`/v1/tickets/${encodeURIComponent(id)}`)).body;
  if (!('resolution_due_at' in tk)) {
    // the clocks come with the server's change on branch convo; until it is merged there is
    // nothing to show
    t.skip('the service has no resolution_due_at yet');
    return;
  }
  assert.equal(tk.reason, 'complaint');
  assert.ok(tk.first_response_due_at && tk.resolution_due_at, JSON.stringify(tk));
  await openTicket(id);
  const first = page.locator('[data-testid="sla-first"] [data-due]');
  const settle = page.locator('[data-testid="sla-resolution"] [data-due]');
  assert.equal(await first.getAttribute('data-due'), tk.first_response_due_at);
  assert.equal(await settle.getAttribute('data-due'), tk.resolution_due_at);
  assert.match(await settle.textContent(), /left$/);
  assert.equal(await detail('Resolution due').count(), 1);
  assert.equal(await detail('First response due').count(), 1);
  await shot(page, 'gaps-two-sla-clocks.png');
});

test('the auto-answer chart leaves hours without messages blank instead of drawing 0%', async () => {
  await page.locator('#tab-stats').click();
  const hours = await page.locator('#stats-hours').inputValue();
  const series = (await agentApi(`/v1/stats/timeseries?shop=${SHOP}&hours=${hours}`)).body.buckets;
  const withMessages = series.filter((b) => b.messages > 0).length;
  assert.ok(withMessages >= 1 && withMessages < series.length, `some hours have messages, some none (${withMessages}/${series.length})`);
  const chart = page.locator('#charts figure', { hasText: 'Auto-answer rate' });
  await chart.locator('svg').waitFor();
  // a point per hour with messages, a shaded "no messages" slot per hour without
  assert.equal(await chart.locator('circle.dot').count(), withMessages);
  assert.equal(await chart.locator('rect.gap').count(), series.length - withMessages);
  const empty = series.findIndex((b) => b.messages === 0);
  assert.match(await chart.locator(`rect.gap[data-index="${empty}"] title`).textContent(), /· no messages$/);
  assert.equal(await chart.locator('.chart-note').textContent(), 'Gaps: hours without messages');
  // the line never runs through an empty hour: as many pieces as runs of hours with messages
  const runs = series.reduce((n, b, i) => n + (b.messages > 0 && !(i > 0 && series[i - 1].messages > 0) ? 1 : 0), 0);
  const d = await chart.locator('path.line').getAttribute('d');
  assert.equal((d.match(/M/g) || []).length, runs, d);
  await shot(page, 'gaps-stats-chart.png');
  await page.locator('#tab-queue').click();
  assert.deepEqual(dialogs, [], 'no dialog was opened');
});
