// After the first answer, end to end in headless Chromium against the real service (started by
// ../run.sh): a shopper reports a missing item in the widget, the agent completes and submits
// the after-sales case (售后单) the router drafted, the shop's callback receives it signed, the
// agent replies and resolves, the shopper rates the service 2 stars in the widget, the
// inspector finds the reply in the inspection sample, and the scorecard shows the agent's row.
// A second shopper's 👎 on a bot answer puts that answer in the sample too.
//
// One story, told in order (the tests share the pages). docs/aftersales.md is the contract.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import {
  BASE, SHOP, AGENT_TOKEN, AGENT, CALLBACK_LOG, ARTIFACTS, FAQ_QUESTION,
  launchBrowser, openPage, shot, shopperSays, signIn, agentApi, callbacks, waitFor,
} from '../lib.mjs';

const ORDER = '4102938475610293';
const MISSING = `订单号 ${ORDER} 少发了一瓶精华`;
const ITEMS = '玻尿酸精华 30ml ×1';
const EVIDENCE = '顾客已发来包裹和商品的照片';
const REPLY = '非常抱歉少发了一瓶精华，已为您登记补发，补发单号会尽快通过短信发给您。';
// customer text with markup: shown as text wherever it appears
const COMMENT = '等了太久才有人回复 <img src=x onerror=alert(1)>';

let browser;
const dialogs = [];
let consolePage;
let faqShopper;
let faqAnswer; // {text, question}
let shopper;
let ticketId;
let downloadsDir;

// a taller page than the other story's, and downloads for the CSV exports
const newPage = (opts) => openPage(browser, dialogs, { viewport: { width: 1360, height: 900 }, acceptDownloads: true, ...opts });

/** Clicks `button`, waits for the download it starts and returns its bytes. */
async function downloaded(page, button) {
  const [download] = await Promise.all([page.waitForEvent('download'), page.locator(button).click()]);
  const file = path.join(downloadsDir, download.suggestedFilename());
  await download.saveAs(file);
  return { name: download.suggestedFilename(), bytes: fs.readFileSync(file) };
}

/** The score docs/aftersales.md defines: the weighted mean of the parts with data, ×100, one decimal. */
function weighted(w, row) {
  const parts = [[w.satisfaction, row.csat], [w.speed, row.speed], [w.resolution, row.resolution_rate], [w.compliance, row.compliance]]
    .filter(([, v]) => typeof v === 'number');
  const total = parts.reduce((a, [wt]) => a + wt, 0);
  return Math.round((1000 * parts.reduce((a, [wt, v]) => a + wt * v, 0)) / total) / 10;
}

before(async () => {
  downloadsDir = fs.mkdtempSync(path.join(ARTIFACTS, 'downloads-'));
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (downloadsDir) fs.rmSync(downloadsDir, { recursive: true, force: true });
});

test('a shopper rates a bot answer 👎 in the widget', async () => {
  faqShopper = await newPage();
  const answer = await shopperSays(faqShopper, FAQ_QUESTION);
  assert.equal(answer.decision, 'answered', JSON.stringify(answer));
  assert.equal(answer.reply.kind, 'answer');
  faqAnswer = { text: answer.reply.text.trim(), question: FAQ_QUESTION };
  const bot = faqShopper.locator('.sr-bot:not(.sr-welcome)').last();
  assert.equal((await bot.locator('.sr-text').textContent()).trim(), faqAnswer.text);
  // the buttons come once the answer's id is known (from the event stream)
  const down = bot.locator('[data-testid="feedback-down"]');
  await down.waitFor({ timeout: 10_000 });
  assert.equal(await bot.locator('[data-testid="feedback-up"]').count(), 1);
  const messageId = await bot.locator('[data-testid="answer-feedback"]').getAttribute('data-message-id');
  assert.ok(messageId, 'the feedback knows the answer\'s message id');

  const sent = faqShopper.waitForRequest((r) => r.url().includes(`/answers/${encodeURIComponent(messageId)}/feedback`) && r.method() === 'POST');
  const answered = faqShopper.waitForResponse((r) => r.url().includes(`/answers/${encodeURIComponent(messageId)}/feedback`));
  await down.click();
  const req = await sent;
  const visitor = await faqShopper.evaluate((shop) => JSON.parse(localStorage.getItem('smartreply.visitor.' + shop)), SHOP);
  assert.deepEqual(JSON.parse(req.postData()), { visitor_id: visitor.visitor_id, helpful: false });
  assert.equal(req.headers()['x-widget-key'] ? 'key' : 'none', 'key', 'the widget key travels with the vote');
  assert.match(req.headers()['authorization'] || '', /^Bearer .+/, 'the visitor token travels with the vote');
  const res = await answered;
  assert.ok(res.ok(), `feedback answered ${res.status()}: ${await res.text()}`);
  await bot.locator('[data-testid="feedback-down"][aria-pressed="true"]').waitFor();
  assert.equal(await bot.locator('[data-testid="feedback-up"]').getAttribute('aria-pressed'), 'false');
  await shot(faqShopper, 'aftersales-widget-thumbs-down.png');
});

test('a shopper reports a missing item with the order number; a ticket opens', async () => {
  shopper = await newPage();
  const answer = await shopperSays(shopper, MISSING);
  assert.equal(answer.decision, 'escalated', JSON.stringify(answer));
  assert.ok(answer.ticket_id, 'the report opens a ticket');
  ticketId = answer.ticket_id;
  // an acknowledgement is no answer: nothing to vote on
  const bot = shopper.locator('.sr-bot:not(.sr-welcome)').last();
  await bot.waitFor();
  assert.equal(answer.reply.kind, 'acknowledgement');
  assert.equal(await bot.locator('[data-testid="answer-feedback"]').count(), 0);
});

test('the agent opens the ticket and sees the drafted reshipment case with the order number from the chat', async () => {
  consolePage = await newPage();
  await signIn(consolePage, AGENT_TOKEN);
  assert.equal(await consolePage.locator('#tab-inspection').isVisible(), true, 'an inspector sees the inspection tab');
  const item = consolePage.locator(`#queue li[data-id="${ticketId}"]`);
  await item.waitFor({ timeout: 10_000 });
  await item.click();
  await consolePage.locator('#messages .msg.customer .bubble', { hasText: ORDER }).waitFor();
  assert.equal(await consolePage.locator('#tier-badge').textContent(), 'First line');

  const panel = consolePage.locator('[data-testid="case-panel"]');
  await panel.locator('#case-form').waitFor();
  assert.equal(await panel.locator('[data-testid="case-status"]').textContent(), 'Draft');
  assert.equal(await panel.locator('#case-type').inputValue(), 'reshipment');
  assert.equal(await panel.locator('#case-type option:checked').textContent(), 'Reshipment');
  assert.equal(await panel.locator('#case-reason').inputValue(), 'missing_item');
  assert.equal(await panel.locator('#case-reason option:checked').textContent(), 'Missing item');
  assert.equal(await panel.locator('#case-responsibility').inputValue(), 'warehouse');
  assert.equal(await panel.locator('#case-order_number').inputValue(), ORDER);
  assert.equal(await panel.locator('#case-items').inputValue(), '');
  assert.equal(await panel.locator('[data-testid="case-evidence-hint"]').textContent(), 'Requested from the customer: photo');
  // the service's record agrees with the form
  const stored = await agentApi(`/v1/tickets/${encodeURIComponent(ticketId)}/case`);
  assert.equal(stored.status, 200, JSON.stringify(stored.body));
  assert.equal(stored.body.status, 'draft');
  assert.equal(stored.body.shop, SHOP);
  assert.equal(stored.body.order_number, ORDER);
  assert.deepEqual(stored.body.evidence_requested, ['photo']);
  await shot(consolePage, 'aftersales-console-case-draft.png');
});

test('submitting the incomplete case is refused with the errors next to their fields, the form kept', async () => {
  const page = consolePage;
  const panel = page.locator('[data-testid="case-panel"]');
  await panel.locator('#case-note').fill('顾客很着急');
  const refused = page.waitForResponse((r) => r.url().endsWith(`/v1/tickets/${ticketId}/case/submit`) && r.request().method() === 'POST');
  await panel.locator('[data-testid="case-submit"]').click();
  const res = await refused;
  assert.equal(res.status(), 422);
  const body = await res.json();
  assert.equal(body.error.code, 'invalid_case');
  assert.deepEqual(body.error.fields, { evidence: 'required: photo requested', items: 'required for reshipment' });

  await panel.locator('[data-field-error="items"]', { hasText: 'required for reshipment' }).waitFor();
  assert.equal(await panel.locator('[data-field-error="items"]').textContent(), 'required for reshipment');
  assert.equal(await panel.locator('[data-field-error="evidence"]').textContent(), 'required: photo requested');
  assert.equal(await panel.locator('[data-field-error="order_number"]').textContent(), '');
  assert.equal(await panel.locator('#case-items').getAttribute('aria-invalid'), 'true');
  assert.equal(await panel.locator('[data-testid="case-error"]').textContent(), 'The case is not complete: see the fields.');
  // nothing typed is lost, the case is still a draft
  assert.equal(await panel.locator('#case-order_number').inputValue(), ORDER);
  assert.equal(await panel.locator('#case-note').inputValue(), '顾客很着急');
  assert.equal(await panel.locator('#case-type').inputValue(), 'reshipment');
  assert.equal(await panel.locator('[data-testid="case-status"]').textContent(), 'Draft');
  await shot(page, 'aftersales-console-case-refused.png');
});

test('with the items and the evidence the case is submitted and becomes read-only', async () => {
  const page = consolePage;
  const panel = page.locator('[data-testid="case-panel"]');
  await panel.locator('#case-items').fill(ITEMS);
  assert.equal(await panel.locator('[data-field-error="items"]').textContent(), '', 'typing clears the field\'s error');
  await panel.locator('#case-evidence').fill(EVIDENCE);

  const saved = page.waitForRequest((r) => r.url().endsWith(`/v1/tickets/${ticketId}/case`) && r.method() === 'PUT');
  const submitted = page.waitForResponse((r) => r.url().endsWith(`/v1/tickets/${ticketId}/case/submit`) && r.request().method() === 'POST');
  await panel.locator('[data-testid="case-submit"]').click();
  const put = JSON.parse((await saved).postData());
  assert.equal(put.type, 'reshipment');
  assert.equal(put.reason, 'missing_item');
  assert.equal(put.responsibility, 'warehouse');
  assert.equal(put.order_number, ORDER);
  assert.equal(put.items, ITEMS);
  assert.equal(put.evidence, EVIDENCE);
  assert.equal(put.note, '顾客很着急');
  assert.equal(put.refund_amount, null);
  assert.equal(put.tracking_number, null);
  const res = await submitted;
  assert.equal(res.status(), 200, await res.text());

  await panel.locator('[data-testid="case-status"]', { hasText: 'Submitted' }).waitFor();
  for (const f of ['type', 'reason', 'responsibility', 'order_number', 'items', 'refund_amount', 'tracking_number', 'evidence', 'note']) {
    assert.equal(await panel.locator('#case-' + f).isDisabled(), true, `${f} is read-only`);
  }
  assert.equal(await panel.locator('[data-testid="case-submit"]').isVisible(), false);
  assert.equal(await panel.locator('[data-testid="case-save"]').isVisible(), false);
  assert.equal(await panel.locator('[data-field-error="items"]').textContent(), '');
  assert.equal(await panel.locator('#case-meta dd').first().textContent(), AGENT);
  const stored = await agentApi(`/v1/tickets/${encodeURIComponent(ticketId)}/case`);
  assert.equal(stored.body.status, 'submitted');
  assert.equal(stored.body.items, ITEMS);
  assert.equal(stored.body.submitted_by, AGENT);
  await shot(page, 'aftersales-console-case-submitted.png');
});

test('the shop\'s callback receives the signed case event', { skip: !CALLBACK_LOG && 'no callback receiver' }, async () => {
  const hit = await waitFor('the case callback', () => callbacks().find((l) => l.body && l.body.event === 'case' && l.body.ticket_id === ticketId));
  const ev = hit.body;
  assert.equal(hit.method, 'POST');
  assert.match(hit.headers['x-smartreply-signature'] || '', /^sha256=[0-9a-f]{64}$/);
  assert.match(hit.headers['x-smartreply-timestamp'] || '', /^\d+$/);
  assert.equal(ev.version, 1);
  assert.equal(ev.shop, SHOP);
  assert.match(ev.message_id, /^case-/);
  assert.match(ev.case_id, /^case-/);
  assert.equal(ev.type, 'reshipment');
  assert.equal(ev.reason, 'missing_item');
  assert.equal(ev.responsibility, 'warehouse');
  assert.equal(ev.order_number, ORDER);
  assert.equal(ev.items, ITEMS);
  assert.equal(ev.evidence, EVIDENCE);
  assert.equal(ev.note, '顾客很着急');
  assert.equal(ev.refund_amount, null);
  assert.equal(ev.tracking_number, null);
  assert.equal(ev.submitted_by, AGENT);
  assert.ok(!Number.isNaN(Date.parse(ev.submitted_at)), ev.submitted_at);
  const convo = await agentApi(`/v1/tickets/${encodeURIComponent(ticketId)}`);
  assert.equal(ev.conversation_id, convo.body.conversation_id);
  assert.equal(ev.customer_id, convo.body.customer_id);
  assert.equal(callbacks().filter((l) => l.body && l.body.event === 'case' && l.body.ticket_id === ticketId).length, 1, 'one case event');
});

test('the agent replies and resolves; the shopper sees the reply and the survey', async () => {
  const page = consolePage;
  const box = page.locator('#reply-text');
  await box.fill(REPLY);
  assert.equal(await page.locator('#resolve-after').isChecked(), true);
  const replied = page.waitForResponse((r) => r.url().endsWith(`/v1/tickets/${ticketId}/reply`));
  await box.press('Control+Enter');
  assert.ok((await replied).ok(), 'the reply is accepted');
  await page.locator(`#queue li[data-id="${ticketId}"]`).waitFor({ state: 'detached' });

  await shopper.locator('.sr-agent .sr-text', { hasText: REPLY }).waitFor({ timeout: 10_000 });
  const survey = shopper.locator('[data-testid="survey"]');
  await survey.waitFor({ timeout: 10_000 });
  // the widget shows the prompt the service sends (in the shopper's language, English here);
  // a shop with a callback gets the same survey as a signed `survey` event
  const surveyId = await survey.getAttribute('data-survey-id');
  assert.match(surveyId, /^survey-/);
  if (CALLBACK_LOG) {
    const hit = await waitFor('the survey callback', () => callbacks().find((l) => l.body && l.body.event === 'survey' && l.body.ticket_id === ticketId));
    assert.equal(hit.body.version, 1);
    assert.equal(hit.body.survey_id, surveyId);
    assert.equal(hit.body.shop, SHOP);
    assert.deepEqual(hit.body.scale, { min: 1, max: 5 });
    assert.match(hit.headers['x-smartreply-signature'] || '', /^sha256=[0-9a-f]{64}$/);
    assert.equal(await survey.locator('.sr-survey-prompt').textContent(), hit.body.prompt.en);
  }
  assert.match(await survey.locator('.sr-survey-prompt').textContent(), /^How did we do\?/);
  assert.equal(await survey.locator('.sr-star').count(), 5);
  for (let n = 1; n <= 5; n++) assert.equal(await survey.locator(`[data-testid="survey-star-${n}"]`).getAttribute('aria-label'), `${n} of 5 stars`);
  assert.equal(await survey.locator('[data-testid="survey-submit"]').isDisabled(), true, 'no rating, nothing to send');
  await shot(shopper, 'aftersales-widget-survey.png');
});

test('the shopper rates the service 2 stars with a comment and is thanked', async () => {
  const survey = shopper.locator('[data-testid="survey"]');
  const surveyId = await survey.getAttribute('data-survey-id');
  await survey.locator('[data-testid="survey-star-2"]').click();
  assert.equal(await survey.locator('[data-testid="survey-star-2"]').getAttribute('aria-checked'), 'true');
  assert.equal(await survey.locator('.sr-star.sr-on').count(), 2);
  await survey.locator('[data-testid="survey-comment"]').fill(COMMENT);
  const sent = shopper.waitForRequest((r) => r.url().endsWith(`/v1/widget/${SHOP}/surveys/${encodeURIComponent(surveyId)}`) && r.method() === 'POST');
  const answered = shopper.waitForResponse((r) => r.url().endsWith(`/v1/widget/${SHOP}/surveys/${encodeURIComponent(surveyId)}`));
  await survey.locator('[data-testid="survey-submit"]').click();
  const req = await sent;
  const visitor = await shopper.evaluate((shop) => JSON.parse(localStorage.getItem('smartreply.visitor.' + shop)), SHOP);
  assert.deepEqual(JSON.parse(req.postData()), { visitor_id: visitor.visitor_id, rating: 2, comment: COMMENT });
  assert.match(req.headers()['authorization'] || '', /^Bearer .+/);
  const res = await answered;
  assert.ok(res.ok(), `survey answered ${res.status()}: ${await res.text()}`);
  await survey.locator('[data-testid="survey-thanks"]').waitFor();
  assert.equal(await survey.locator('[data-testid="survey-thanks"]').textContent(), 'Thank you for rating our service!');
  assert.equal(await survey.locator('[data-testid="survey-star-1"]').count(), 0, 'the stars are gone');
  await shot(shopper, 'aftersales-widget-survey-thanks.png');

  // rated once: the same rating again is refused
  const again = await fetch(`${BASE}/v1/widget/${SHOP}/surveys/${encodeURIComponent(surveyId)}`, {
    method: 'POST',
    headers: { 'X-Widget-Key': 'pk_test_demo', Authorization: 'Bearer ' + visitor.visitor_token, 'Content-Type': 'application/json' },
    body: JSON.stringify({ visitor_id: visitor.visitor_id, rating: 5 }),
  });
  assert.equal(again.status, 409);
  // after a reload the rated survey is not offered again
  await shopper.reload();
  await shopper.locator('.sr-bubble').click();
  await shopper.locator('.sr-agent .sr-text', { hasText: REPLY }).waitFor();
  await shopper.waitForTimeout(500);
  assert.equal(await shopper.locator('[data-testid="survey"]').count(), 0);
});

test('before any inspection the scorecard counts the one rating and says the compliance part is left out', async () => {
  const page = consolePage;
  await page.locator('#tab-scorecard').click();
  const row = page.locator(`#scorecard-body tr[data-agent="${AGENT}"]`);
  await row.waitFor({ timeout: 10_000 });
  const api = (await agentApi(`/v1/scorecard?shop=${SHOP}&period=day`)).body;
  const mine = api.agents.find((a) => a.agent === AGENT);
  // the numbers: one rating of 2 stars (CSAT 0), nothing inspected yet
  assert.equal(mine.ratings, 1);
  assert.equal(mine.csat, 0);
  assert.equal(mine.compliance, null);
  assert.equal(typeof mine.speed, 'number');
  assert.equal(mine.score, weighted(api.weights, mine));

  assert.equal(await row.locator('[data-col="ratings"]').textContent(), '1');
  assert.equal(await row.locator('[data-col="csat"]').textContent(), '0%');
  assert.equal(await row.locator('[data-testid="score-value"]').textContent(), String(mine.score));
  const note = row.locator('[data-testid="score-note"]');
  assert.equal(await note.textContent(), 'Compliance: no data, weight left out');
  assert.equal(await note.getAttribute('data-dropped'), 'compliance');
  const w = api.weights;
  const p = (x) => Math.round(x * 1000) / 10 + '%';
  assert.equal(await row.locator('[data-col="score"]').getAttribute('title'),
    `(${w.satisfaction} × ${p(mine.csat)} + ${w.speed} × ${p(mine.speed)} + ${w.resolution} × ${p(mine.resolution_rate)}) ÷ ${w.satisfaction + w.speed + w.resolution} = ${mine.score}`);
  assert.match(await page.locator('[data-testid="scorecard-explain"]').textContent(), /left out and the other weights are scaled up/);
  await shot(page, 'aftersales-console-scorecard-before-inspection.png');

  await page.locator('.topbar [data-lang-toggle]').click();
  await note.filter({ hasText: '合规率：无数据，不计权重' }).waitFor();
  assert.equal(await page.locator('#scorecard thead th').nth(5).textContent(), '评分数');
  await page.locator('.topbar [data-lang-toggle]').click();
  await note.filter({ hasText: 'Compliance' }).waitFor();
});

test('the inspection tab lists the reply (low rating, 2 stars) and the 👎 answer; the inspector scores the reply', async () => {
  const page = consolePage;
  await page.locator('#tab-inspection').click();
  const reply = page.locator('#inspections li.insp-item[data-why="low_rating"]', { hasText: REPLY });
  await reply.waitFor({ timeout: 10_000 });
  assert.equal(await reply.count(), 1);
  assert.equal(await reply.locator('[data-testid="insp-text"]').textContent(), REPLY);
  assert.equal(await reply.locator('[data-testid="insp-customer"]').textContent(), MISSING);
  assert.equal(await reply.locator('[data-testid="insp-author"]').textContent(), AGENT);
  assert.equal(await reply.locator('[data-testid="insp-why"]').textContent(), 'Low rating');
  assert.equal(await reply.locator('[data-testid="insp-rating"]').getAttribute('data-rating'), '2');
  assert.equal(await reply.locator('[data-testid="insp-rating"]').textContent(), '★★☆☆☆ 2/5');
  // the comment that came with the 2 stars, as text
  assert.equal(await reply.locator('[data-testid="insp-comment"]').textContent(), COMMENT);
  assert.equal(await page.locator('#inspections img').count(), 0);
  const listed = (await agentApi(`/v1/inspections?shop=${SHOP}&status=pending`)).body.inspections.find((x) => x.text === REPLY);
  assert.equal(listed.rating_comment, COMMENT);

  const bot = page.locator('#inspections li.insp-item[data-why="thumbs_down"]', { hasText: faqAnswer.text });
  assert.equal(await bot.count(), 1);
  assert.equal(await bot.locator('[data-testid="insp-comment"]').count(), 0, 'a 👎 has no comment');
  assert.equal(await bot.locator('[data-testid="insp-text"]').textContent(), faqAnswer.text);
  assert.equal(await bot.locator('[data-testid="insp-customer"]').textContent(), faqAnswer.question);
  assert.equal(await bot.locator('[data-testid="insp-author"]').textContent(), 'Bot');
  assert.equal(await bot.locator('[data-testid="insp-why"]').textContent(), 'Thumbs down');
  assert.equal(await bot.locator('[data-testid="insp-rating"]').textContent(), 'not helpful');
  assert.equal(await bot.getAttribute('data-agent'), '');
  const pending = await agentApi(`/v1/inspections?shop=${SHOP}&status=pending`);
  assert.equal(await page.locator('#inspections li.insp-item').count(), pending.body.inspections.length);
  assert.equal(await page.locator('#inspection-count').textContent(), String(pending.body.inspections.length));
  await shot(page, 'aftersales-console-inspection.png');

  // correct, polite and compliant, but a canned reply: the item fails
  const id = await reply.getAttribute('data-id');
  for (const c of ['correct', 'polite', 'compliant']) await reply.locator(`[data-testid="insp-${c}"]`).check();
  await reply.locator('[data-testid="insp-note"]').fill('套话，没有给出补发时间');
  const sent = page.waitForRequest((r) => r.url().endsWith(`/v1/inspections/${encodeURIComponent(id)}`) && r.method() === 'POST');
  const scored = page.waitForResponse((r) => r.url().endsWith(`/v1/inspections/${encodeURIComponent(id)}`));
  await reply.locator('[data-testid="insp-score"]').click();
  assert.deepEqual(JSON.parse((await sent).postData()), { correct: true, polite: true, compliant: true, no_blind_canned: false, note: '套话，没有给出补发时间' });
  assert.ok((await scored).ok());
  await page.locator(`#inspections li.insp-item[data-id="${id}"]`).waitFor({ state: 'detached' });
  const after = await agentApi(`/v1/inspections?shop=${SHOP}&status=scored`);
  const item = after.body.inspections.find((x) => x.id === id);
  assert.equal(item.passed, false);
  assert.equal(item.inspector, AGENT);
});

test('the scorecard shows the agent\'s row with CSAT 0% of 1 rating and the weighted score, and exports CSV', async () => {
  const page = consolePage;
  await page.locator('#tab-scorecard').click();
  const row = page.locator(`#scorecard-body tr[data-agent="${AGENT}"]`);
  await row.waitFor({ timeout: 10_000 });
  const api = (await agentApi(`/v1/scorecard?shop=${SHOP}&period=day`)).body;
  const mine = api.agents.find((a) => a.agent === AGENT);
  assert.ok(mine, JSON.stringify(api));
  // the story's numbers: one rating (2 stars), one failed inspection, every ticket resolved
  assert.equal(mine.ratings, 1);
  assert.equal(mine.csat, 0);
  assert.equal(mine.inspected, 1);
  assert.equal(mine.compliance, 0);
  assert.equal(mine.resolution_rate, 1);
  assert.deepEqual(api.weights, { satisfaction: 40, speed: 30, resolution: 20, compliance: 10 });
  assert.equal(mine.score, weighted(api.weights, mine));

  assert.equal(await row.locator('[data-col="agent"]').textContent(), AGENT);
  assert.equal(await row.locator('[data-col="ratings"]').textContent(), '1');
  assert.equal(await row.locator('[data-col="csat"]').textContent(), '0%');
  assert.equal(await row.locator('[data-col="compliance"]').textContent(), '0%');
  assert.equal(await row.locator('[data-col="resolution_rate"]').textContent(), '100%');
  assert.equal(await row.locator('[data-col="tickets"]').textContent(), String(mine.tickets));
  assert.equal(await row.locator('[data-col="sla_breaches"]').textContent(), String(mine.sla_breaches));
  assert.equal(await row.locator('[data-testid="score-value"]').textContent(), String(mine.score));
  // every part has data now: nothing is left out
  assert.equal(await row.locator('[data-testid="score-note"]').count(), 0);
  assert.equal(await page.locator('#scorecard-body tr[data-row="team"] [data-col="agent"]').textContent(), 'Team');
  assert.equal(await page.locator('#scorecard-body tr[data-row="team"] [data-testid="score-value"]').textContent(), String(api.team.score ?? '—'));
  assert.equal(await page.locator('[data-testid="scorecard-weights"]').textContent(), 'Weights: Satisfaction 40 · Speed 30 · Resolution 20 · Compliance 10');
  assert.equal(await page.locator(`#sc-chart svg rect.bar[data-label="${AGENT}"]`).count(), mine.score > 0 ? 1 : 0);
  assert.equal(await page.locator('[data-testid="scorecard-bot"]').textContent(),
    `Bot: ${api.bot.answers} answers · helpful ${api.bot.helpful} · not helpful ${api.bot.not_helpful}` +
    (typeof api.bot.first_response_ms?.p50 === 'number' ? ` · p50 ${api.bot.first_response_ms.p50} ms` : ''));
  assert.ok(api.bot.not_helpful >= 1, 'the 👎 counts');
  await shot(page, 'aftersales-console-scorecard.png');

  const csv = await downloaded(page, '#sc-export');
  assert.deepEqual([...csv.bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 with BOM');
  const lines = csv.bytes.toString('utf8').slice(1).split(/\r?\n/).filter(Boolean).map((l) => l.split(','));
  assert.deepEqual(lines[0].slice(0, 3), ['period_start', 'agent', 'tickets']);
  const agentLine = lines.find((l) => l[1] === AGENT);
  assert.ok(agentLine, csv.bytes.toString('utf8'));
  assert.equal(agentLine[lines[0].indexOf('csat')], '0.000');
  assert.equal(agentLine[lines[0].indexOf('score')], mine.score.toFixed(1));
  assert.match(csv.name, new RegExp(`^scorecard-${SHOP}-\\d{4}-\\d{2}-\\d{2}\\.csv$`));
});

test('the cases view lists the submitted case and exports it as CSV', async () => {
  const page = consolePage;
  await page.locator('#tab-cases').click();
  const row = page.locator('#cases-body tr', { hasText: ORDER });
  await row.waitFor({ timeout: 10_000 });
  assert.equal(await row.count(), 1);
  assert.equal(await row.getAttribute('data-ticket'), ticketId);
  assert.equal(await row.locator('[data-col="status"]').textContent(), 'Submitted');
  assert.equal(await row.locator('[data-col="type"]').textContent(), 'Reshipment');
  assert.equal(await row.locator('[data-col="reason"]').textContent(), 'Missing item');
  assert.equal(await row.locator('[data-col="responsibility"]').textContent(), 'Warehouse');
  assert.equal(await row.locator('[data-col="items"]').textContent(), ITEMS);
  assert.equal(await row.locator('[data-col="submitted_by"]').textContent(), AGENT);
  await shot(page, 'aftersales-console-cases.png');

  const csv = await downloaded(page, '#cases-export');
  assert.deepEqual([...csv.bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 with BOM');
  const text = csv.bytes.toString('utf8');
  assert.ok(text.includes(ORDER), text);
  assert.ok(text.includes(ITEMS), 'the Chinese items survive the export');

  // in Chinese, the same view speaks Chinese
  await page.locator('.topbar [data-lang-toggle]').click();
  await page.locator('#tab-cases', { hasText: '售后单' }).waitFor();
  await row.locator('[data-col="type"]', { hasText: '补发' }).waitFor();
  assert.equal(await row.locator('[data-col="status"]').textContent(), '已提交');
  await page.locator('.topbar [data-lang-toggle]').click();
  assert.deepEqual(dialogs, [], 'no dialog was opened');
});

test('a later, angrier message re-scores the open ticket live; the agent transfers it to the second line', async () => {
  const page = consolePage;
  await page.locator('#tab-queue').click();
  const other = await newPage();
  const first = await shopperSays(other, '你好，我想找人工客服问一下发票的事');
  assert.equal(first.decision, 'escalated', JSON.stringify(first));
  const id = first.ticket_id;
  const item = page.locator(`#queue li[data-id="${id}"]`);
  await item.waitFor({ timeout: 10_000 });
  await item.click();
  await page.locator('#messages .msg.customer .bubble', { hasText: '发票' }).waitFor();
  const before = (await agentApi(`/v1/tickets/${encodeURIComponent(id)}`)).body;
  assert.equal(before.rescored_at ?? null, null);
  assert.notEqual(before.reason, 'complaint');

  await page.evaluate(() => { window.__noReload = true; });
  const second = await shopperSays(other, '太过分了！！等了这么久都没人理，我要投诉你们，马上给我退款！');
  assert.equal(second.ticket_id, id, 'the later message joins the ticket');
  const reasonCell = page.locator('#details dt', { hasText: 'Escalation reason' }).locator('xpath=following-sibling::dd[1]');
  await reasonCell.filter({ hasText: 'Complaint' }).waitFor({ timeout: 10_000 });
  assert.equal(await page.evaluate(() => window.__noReload), true, 'the console did not reload');
  const after = (await agentApi(`/v1/tickets/${encodeURIComponent(id)}`)).body;
  assert.equal(after.reason, 'complaint');
  assert.ok(after.rescored_at, 'rescored_at is set');
  assert.ok(Date.parse(after.due_at) <= Date.parse(before.due_at), 'the deadline is never pushed out');
  const prio = { urgent: 'Urgent', high: 'High', normal: 'Normal' }[after.priority];
  assert.equal(await page.locator('#details .pill.prio').textContent(), prio);
  assert.equal(await page.locator(`#queue li[data-id="${id}"] .pill.prio`).textContent(), prio);
  await page.locator('#details dt', { hasText: 'Re-scored' }).waitFor();

  // to the second line, with a note
  await page.locator('#transfer').click();
  await page.locator('#transfer-go').click();
  assert.equal(await page.locator('#transfer-error').textContent(), 'Write a note first.');
  const note = '顾客要求退款并投诉，请二线跟进';
  await page.locator('#transfer-note').fill(note);
  const sent = page.waitForRequest((r) => r.url().endsWith(`/v1/tickets/${id}/transfer`) && r.method() === 'POST');
  const done = page.waitForResponse((r) => r.url().endsWith(`/v1/tickets/${id}/transfer`));
  await page.locator('#transfer-go').click();
  assert.deepEqual(JSON.parse((await sent).postData()), { note });
  assert.ok((await done).ok());
  await page.locator('#tier-badge', { hasText: 'Second line' }).waitFor();
  assert.equal(await page.locator('#transfer').isDisabled(), true);
  assert.equal(await page.locator('#transfer-form').isVisible(), false);
  const noteCell = page.locator('#details dt', { hasText: 'Transfer note' }).locator('xpath=following-sibling::dd[1]');
  assert.equal(await noteCell.textContent(), note);
  assert.equal(await page.locator(`#queue li[data-id="${id}"] .chip.tier`).textContent(), 'Second line');
  const stored = (await agentApi(`/v1/tickets/${encodeURIComponent(id)}`)).body;
  assert.equal(stored.tier, 'second');
  assert.equal(stored.status, 'open');
  assert.equal(stored.transfer_note, note);

  // the queue's line filter
  const listed = page.waitForResponse((r) => r.url().includes('/v1/tickets?') && r.url().includes('tier=second'));
  await page.locator('#tier').selectOption('second');
  await listed;
  await page.locator(`#queue li[data-id="${id}"]`).waitFor();
  const secondLine = (await agentApi(`/v1/tickets?shop=${SHOP}&status=open&tier=second`)).body.tickets.map((t) => t.id);
  assert.ok(secondLine.includes(id));
  assert.equal(await page.locator('#queue li[data-id]').count(), secondLine.length + (await agentApi(`/v1/tickets?shop=${SHOP}&status=claimed&tier=second`)).body.tickets.length);
  await page.locator('#tier').selectOption('first');
  await page.locator(`#queue li[data-id="${id}"]`).waitFor({ state: 'detached' });
  await page.locator('#tier').selectOption('');
  await page.locator(`#queue li[data-id="${id}"]`).waitFor();
  await shot(page, 'aftersales-console-second-line.png');
  assert.deepEqual(dialogs, [], 'no dialog was opened');
});
