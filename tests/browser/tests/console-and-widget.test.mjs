// The storefront widget and the agent console, end to end in headless Chromium against the
// real service (started by ../run.sh, which passes its address and tokens in the environment).
//
// One story, told in order: shoppers chat on the demo storefront, an agent works the queue in
// the console, and an agent of another shop sees none of it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE, SHOP, AGENT_TOKEN, OTHER_TOKEN, OTHER_SHOP, CALLBACK_LOG, FAQ_QUESTION,
  launchBrowser, openPage, shot, shopperSays, signIn, agentApi, callbacks, waitFor,
} from '../lib.mjs';

const ANGRY_MESSAGE = 'This is unacceptable!! The serum arrived broken and nobody helps me. I want my money back now!';
const XSS = '<img src=x onerror=alert(1)>';
const XSS_MESSAGE = XSS + ' I want to talk to a human agent, this is the third time!';

let browser;
const dialogs = []; // every JS dialog any page opened: there must be none
let consolePage;
let angryShopper;
let angryTicketId;
let insertedPhrase;

const newPage = (opts) => openPage(browser, dialogs, opts);

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

test('the pages are served with a strict content security policy', async () => {
  for (const p of ['/console', '/demo']) {
    const res = await fetch(BASE + p);
    assert.equal(res.status, 200, p);
    assert.match(res.headers.get('content-type'), /text\/html/);
    const csp = res.headers.get('content-security-policy') || '';
    assert.match(csp, /script-src 'self'/, `${p} CSP: ${csp}`);
    assert.doesNotMatch(csp, /unsafe-inline/);
  }
  const demo = await (await fetch(BASE + '/demo')).text();
  assert.match(demo, /<script src="\/widget\.js" data-shop="[^"]+" data-key="[^"]+"/);
  const js = await fetch(BASE + '/widget.js');
  assert.match(js.headers.get('content-type'), /javascript/);
});

test('a shopper asks a FAQ question in the widget and sees the answer at once', async () => {
  const page = await newPage();
  const answer = await shopperSays(page, FAQ_QUESTION);
  assert.equal(answer.decision, 'answered', JSON.stringify(answer));
  assert.equal(answer.reply.kind, 'answer');
  const bot = page.locator('.sr-bot:not(.sr-welcome) .sr-text').last();
  await bot.waitFor();
  assert.equal((await bot.textContent()).trim(), answer.reply.text.trim());
  assert.equal(await page.locator('.sr-customer .sr-text').first().textContent(), FAQ_QUESTION);
  await shot(page, 'widget-faq-answer.png');
});

test('an agent signs in to the console with a token', async () => {
  consolePage = await newPage();
  await signIn(consolePage, AGENT_TOKEN);
  assert.equal(await consolePage.evaluate(() => sessionStorage.getItem('smartreply.agentToken')), AGENT_TOKEN);
  assert.equal(await consolePage.locator('#shop').inputValue(), SHOP);
  // marks this document: if the page reloaded, the mark would be gone
  await consolePage.evaluate(() => { window.__noReload = true; });
});

test('an angry shopper sees the acknowledgement', async () => {
  angryShopper = await newPage();
  const answer = await shopperSays(angryShopper, ANGRY_MESSAGE);
  assert.equal(answer.decision, 'escalated', JSON.stringify(answer));
  assert.equal(answer.reply.kind, 'acknowledgement');
  assert.ok(answer.ticket_id, 'an escalated message opens a ticket');
  angryTicketId = answer.ticket_id;
  const bot = angryShopper.locator('.sr-bot:not(.sr-welcome) .sr-text').last();
  await bot.waitFor();
  assert.equal((await bot.textContent()).trim(), answer.reply.text.trim());
  await shot(angryShopper, 'widget-acknowledgement.png');
});

test('the ticket appears live in the console, without a reload, with its SLA, reason, intent and sentiment', async () => {
  const item = consolePage.locator(`#queue li[data-id="${angryTicketId}"]`);
  await item.waitFor({ timeout: 10_000 });
  assert.equal(await consolePage.evaluate(() => window.__noReload), true, 'the console did not reload');
  assert.match(await item.locator('.sla').textContent(), /left|overdue|\d/);
  assert.equal(await item.locator('.chip.sent').textContent(), 'Negative');
  assert.ok((await item.locator('.chip.reason').textContent()).trim().length > 0);
  assert.ok((await item.locator('.chip.intent').textContent()).trim().length > 0);
  assert.match(await item.locator('.qpreview').textContent(), /unacceptable/);
});

test('the agent edits the draft with a quick phrase and sends it', async () => {
  const page = consolePage;
  await page.locator(`#queue li[data-id="${angryTicketId}"]`).click();
  await page.locator('#ticket').waitFor();
  await page.locator('#messages .msg.customer .bubble', { hasText: 'unacceptable' }).waitFor();
  const box = page.locator('#reply-text');
  const draft = await box.inputValue();

  const phrases = (await agentApi(`/v1/shops/${SHOP}/quick-phrases`)).body;
  assert.ok(phrases.phrases.length > 0, 'the shop has quick phrases');
  const phrase = phrases.phrases[0];
  const lang = (await agentApi(`/v1/tickets/${angryTicketId}`)).body.lang;
  insertedPhrase = lang === 'zh' ? phrase.zh : phrase.en;

  // type "/" and the start of the keyword at the beginning of the box: the phrases pop up
  await box.focus();
  await box.press('Control+Home');
  await box.pressSequentially('/' + phrase.key.slice(0, Math.min(3, phrase.key.length)));
  const popup = page.locator('#phrases');
  await popup.waitFor();
  const options = popup.locator('li');
  const n = await options.count();
  assert.ok(n >= 1);
  // walk with the arrows to the phrase we want, then insert it with Enter
  for (let i = 0; i < n; i++) {
    const selected = await popup.locator('li[aria-selected="true"] .pkey').textContent();
    if (selected === '/' + phrase.key) break;
    await box.press('ArrowDown');
  }
  await shot(page, 'console-quick-phrase.png');
  await box.press('Enter');
  await popup.waitFor({ state: 'hidden' });
  const text = await box.inputValue();
  assert.ok(text.startsWith(insertedPhrase), `the phrase is inserted: ${JSON.stringify(text)}`);
  assert.ok(text.endsWith(draft), 'the rest of the draft is kept');
  assert.equal(await page.locator('#draft-state').textContent(), 'Draft edited');
  await shot(page, 'console-ticket.png');

  const sent = page.waitForRequest((r) => r.url().endsWith(`/v1/tickets/${angryTicketId}/reply`) && r.method() === 'POST');
  const replied = page.waitForResponse((r) => r.url().endsWith(`/v1/tickets/${angryTicketId}/reply`));
  await box.press('Control+Enter');
  const body = JSON.parse((await sent).postData());
  assert.equal(body.draft, 'edited');
  assert.equal(body.text, text.trim());
  assert.equal(body.resolve, true);
  assert.ok((await replied).ok(), 'the reply is accepted');
  await page.locator(`#queue li[data-id="${angryTicketId}"]`).waitFor({ state: 'detached' });
});

test('the shopper sees the agent reply live in the widget', async () => {
  const reply = angryShopper.locator('.sr-agent .sr-text');
  await reply.waitFor({ timeout: 10_000 });
  assert.ok((await reply.textContent()).startsWith(insertedPhrase));
  await shot(angryShopper, 'widget-agent-reply.png');
});

test('a returning shopper sees the conversation again after a reload', async () => {
  const visitor = await angryShopper.evaluate((shop) => JSON.parse(localStorage.getItem('smartreply.visitor.' + shop)), SHOP);
  assert.ok(visitor && visitor.visitor_id && visitor.visitor_token, 'the visitor is kept in localStorage');
  await angryShopper.reload();
  await angryShopper.locator('.sr-bubble').click();
  await angryShopper.locator('.sr-agent .sr-text').waitFor();
  assert.equal(await angryShopper.locator('.sr-customer .sr-text').first().textContent(), ANGRY_MESSAGE);
  assert.ok((await angryShopper.locator('.sr-agent .sr-text').textContent()).startsWith(insertedPhrase));
});

test('the agent reply is delivered to the shop callback, signed', { skip: !CALLBACK_LOG && 'no callback receiver' }, async () => {
  const hit = await waitFor('the reply callback', () => callbacks().find((l) => l.body && l.body.text && l.body.text.startsWith(insertedPhrase)));
  assert.equal(hit.body.event, 'reply');
  assert.match(hit.headers['x-smartreply-signature'] || '', /^sha256=[0-9a-f]{64}$/);
});

test('a message with HTML renders as text in the widget and in the console', async () => {
  const shopper = await newPage();
  const answer = await shopperSays(shopper, XSS_MESSAGE);
  const mine = shopper.locator('.sr-customer .sr-text').last();
  assert.equal(await mine.textContent(), XSS_MESSAGE);
  assert.equal(await shopper.locator('.sr-log img').count(), 0);
  await shot(shopper, 'widget-xss-as-text.png');

  assert.equal(answer.decision, 'escalated', 'asking for a human escalates');
  const item = consolePage.locator(`#queue li[data-id="${answer.ticket_id}"]`);
  await item.waitFor({ timeout: 10_000 });
  assert.match(await item.locator('.qpreview').textContent(), /<img src=x onerror=alert\(1\)>/);
  await item.click();
  const bubble = consolePage.locator('#messages .msg.customer .bubble').last();
  await bubble.waitFor();
  assert.equal(await bubble.textContent(), XSS_MESSAGE);
  assert.equal(await consolePage.locator('#messages img, #queue img').count(), 0);
  await consolePage.waitForTimeout(300); // give a would-be onerror handler its chance
  assert.deepEqual(dialogs, [], 'no dialog was opened');
  await shot(consolePage, 'console-xss-as-text.png');
});

test('the console works with the keyboard and in Chinese', async () => {
  const page = consolePage;
  await page.locator('#queue').focus();
  await page.keyboard.press('k');
  const first = await page.locator('#queue li[aria-selected="true"]').getAttribute('data-id');
  await page.keyboard.press('Enter');
  await page.locator('#ticket').waitFor();
  assert.equal(await page.locator('#queue li.open').getAttribute('data-id'), first);
  await page.keyboard.press('r');
  assert.equal(await page.evaluate(() => document.activeElement.id), 'reply-text');
  await page.keyboard.press('Escape');
  await page.locator('.topbar [data-lang-toggle]').first().click();
  await page.locator('#tab-queue', { hasText: '工单队列' }).waitFor();
  await shot(page, 'console-zh.png');
  await page.locator('.topbar [data-lang-toggle]').click();
});

test('the stats view charts messages, auto answers, response time, drafts and SLA breaches', async () => {
  const page = consolePage;
  await page.locator('#tab-stats').click();
  await page.locator('#charts figure').first().waitFor();
  assert.equal(await page.locator('#charts figure').count(), 5);
  assert.equal(await page.locator('#charts svg').count(), 5);
  const messages = Number(await page.locator('#stat-cards .card-value').first().textContent());
  assert.ok(messages >= 3, `stats count the messages (${messages})`);
  await shot(page, 'console-stats.png');
  await page.locator('#tab-queue').click();
});

test('an agent of another shop cannot see the ticket', { skip: !OTHER_TOKEN && 'no second agent' }, async () => {
  const page = await newPage();
  await signIn(page, OTHER_TOKEN);
  const shops = await page.locator('#shop option').allTextContents();
  assert.deepEqual(shops, [OTHER_SHOP]);
  assert.equal(await page.locator('#queue li[data-id]').filter({ hasText: 'unacceptable' }).count(), 0);
  assert.equal(await page.locator(`#queue li[data-id="${angryTicketId}"]`).count(), 0);
  const status = await page.evaluate(async ([id, shop]) => {
    const headers = { Authorization: 'Bearer ' + sessionStorage.getItem('smartreply.agentToken') };
    const one = await fetch('/v1/tickets/' + encodeURIComponent(id), { headers });
    const list = await fetch('/v1/tickets?status=open&shop=' + encodeURIComponent(shop), { headers });
    return [one.status, list.status];
  }, [angryTicketId, SHOP]);
  assert.equal(status[0], 404, 'another shop\'s ticket answers 404');
  assert.ok(status[1] === 403 || status[1] === 404, `another shop's queue is refused (${status[1]})`);
  await shot(page, 'console-other-shop.png');
});
