// Issue 24's story, end to end in headless Chromium against the real service (started by
// ../run.sh), told once in Chinese and once in English, each with the widget and the console in
// that language: a shopper greets twice (both answered, no hand-off), asks two pre-sales
// questions the bot answers, then reports angrily that an item is missing from an order, giving
// the order number. In the console the ticket is urgent and reads the angry message (intent,
// sentiment, language, order number) with a drafted reshipment case for that order. The agent
// empties the order number and submits: every missing field is flagged at once; the agent
// completes and submits the case, replies, resolves; the shopper rates the service 2 stars
// with a comment; the comment is in the inspection list and the scorecard counts the rating
// and explains its weighted score.
//
// The other stories of this suite may have run first on the same service: counts are checked
// as differences, and every locator is tied to this story's ticket, texts or order number.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  BASE, SHOP, AGENT_TOKEN, AGENT, CALLBACK_LOG,
  launchBrowser, openPage, shot, shopperSays, signIn, agentApi, callbacks, waitFor,
} from '../lib.mjs';

const STORIES = {
  zh: {
    locale: 'zh-CN',
    greetings: ['在吗', '在吗'],
    questions: [
      { text: '满多少包邮', answer: /满 ¥59 包邮/ },
      { text: '你们家是正品吗', answer: /正品/ },
    ],
    order: '2026120712345',
    angry: (o) => `订单 ${o} 少发了一瓶精华！！太过分了`,
    items: '玻尿酸精华 30ml ×1',
    evidence: '顾客已发来包裹和商品的照片',
    reply: '非常抱歉少发了一瓶精华，已为您登记补发，补发单号会尽快短信通知您。',
    // customer text with markup: shown as text wherever it appears
    comment: '补发要等三天，太慢了 <img src=x onerror=alert(1)>',
    ui: {
      urgent: '紧急', intent: '少发错发', negative: '负面', draft: '草稿', submitted: '已提交',
      reshipment: '补发', missingItem: '少发漏发', invalid: '售后单信息不完整，请查看各字段。',
      thanks: '感谢您对本次服务的评价！', lowRating: '低评分',
      d: { priority: '优先级', intent: '意图', sentiment: '情绪', lang: '语言', orders: '订单号', reason: '转人工原因' },
      explain: /没有数据的项.*不计入，其余权重按比例放大/, tabQueue: '工单队列',
    },
  },
  en: {
    locale: 'en-US',
    greetings: ['hi there', 'hello'],
    questions: [
      { text: 'Do you offer free shipping?', answer: /¥59 or more ship free/ },
      { text: 'Are your products genuine?', answer: /genuine/ },
    ],
    order: '2026120767890',
    angry: (o) => `Order ${o} is missing a bottle of serum!!! This is ridiculous`,
    items: 'Hyaluronic serum 30ml x1',
    evidence: 'Customer sent photos of the parcel and its contents',
    reply: 'We are very sorry the serum was missing. A replacement is on its way; you will get the tracking number by text.',
    comment: 'Took days to hear back <img src=x onerror=alert(1)>',
    ui: {
      urgent: 'Urgent', intent: 'Missing or wrong item', negative: 'Negative', draft: 'Draft', submitted: 'Submitted',
      reshipment: 'Reshipment', missingItem: 'Missing item', invalid: 'The case is not complete: see the fields.',
      thanks: 'Thank you for rating our service!', lowRating: 'Low rating',
      d: { priority: 'Priority', intent: 'Intent', sentiment: 'Sentiment', lang: 'Language', orders: 'Order numbers', reason: 'Escalation reason' },
      explain: /A part without data .* is left out and the other weights are scaled up/, tabQueue: 'Queue',
    },
  },
};

let browser;
const dialogs = [];

before(async () => {
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

/** The score docs/aftersales.md defines: the weighted mean of the parts with data, ×100, one decimal. */
function weighted(w, row) {
  const parts = [[w.satisfaction, row.csat], [w.speed, row.speed], [w.resolution, row.resolution_rate], [w.compliance, row.compliance]]
    .filter(([, v]) => typeof v === 'number');
  const total = parts.reduce((a, [wt]) => a + wt, 0);
  return Math.round((1000 * parts.reduce((a, [wt, v]) => a + wt * v, 0)) / total) / 10;
}

const scorecardRow = async () => {
  const api = (await agentApi(`/v1/scorecard?shop=${SHOP}&period=day`)).body;
  return { api, mine: (api.agents || []).find((a) => a.agent === AGENT) };
};

for (const [lang, S] of Object.entries(STORIES)) {
  const ORDER = S.order;
  const ANGRY = S.angry(ORDER);

  describe(`the shopper's story in ${lang === 'zh' ? 'Chinese' : 'English'}`, () => {
    let shopper;
    let consolePage;
    let ticketId;
    let ratingsBefore;
    const botTexts = () => shopper.locator('.sr-bot:not(.sr-welcome) .sr-text');
    const detail = (label) => consolePage.locator('#details dt', { hasText: label }).locator('xpath=following-sibling::dd[1]');
    const panel = () => consolePage.locator('[data-testid="case-panel"]');

    before(async () => {
      // the widget and the console both follow the browser's language
      shopper = await openPage(browser, dialogs, { locale: S.locale });
      consolePage = await openPage(browser, dialogs, { locale: S.locale });
      const sc = await scorecardRow();
      ratingsBefore = sc.mine ? sc.mine.ratings : 0;
    });

    test('the shopper greets twice: both greetings are answered, nothing is handed to a person', async () => {
      const said = [];
      for (const [i, g] of S.greetings.entries()) {
        const answer = await shopperSays(shopper, g);
        said.push(answer.reply.text.trim());
        assert.equal(answer.decision, 'answered', `greeting ${i + 1}: ${JSON.stringify(answer)}`);
        assert.ok(!answer.ticket_id, `greeting ${i + 1} opens no ticket: ${JSON.stringify(answer)}`);
        assert.notEqual(answer.reply.kind, 'acknowledgement', JSON.stringify(answer));
        assert.ok(answer.reply.text.trim(), 'a greeting gets words back');
        await botTexts().nth(i).waitFor();
        assert.equal((await botTexts().nth(i).textContent()).trim(), answer.reply.text.trim());
      }
      assert.equal(await shopper.locator('.sr-customer .sr-text').count(), 2);
      // small talk said again is answered again, not with the same canned line
      assert.notEqual(said[1], said[0]);
    });

    test('two pre-sales questions are answered by the bot', async () => {
      for (const [i, q] of S.questions.entries()) {
        const answer = await shopperSays(shopper, q.text);
        assert.equal(answer.decision, 'answered', `${q.text}: ${JSON.stringify(answer)}`);
        assert.equal(answer.reply.kind, 'answer', JSON.stringify(answer));
        assert.ok(!answer.ticket_id, JSON.stringify(answer));
        assert.match(answer.reply.text, q.answer);
        const bot = botTexts().nth(S.greetings.length + i);
        await bot.waitFor();
        assert.equal((await bot.textContent()).trim(), answer.reply.text.trim());
      }
      await shot(shopper, `story-${lang}-widget-answers.png`);
    });

    test('the angry missing-item report with the order number opens a ticket', async () => {
      const answer = await shopperSays(shopper, ANGRY);
      assert.equal(answer.decision, 'escalated', JSON.stringify(answer));
      assert.ok(answer.ticket_id, 'the report opens a ticket');
      assert.equal(answer.reply.kind, 'acknowledgement');
      ticketId = answer.ticket_id;
      const bot = botTexts().last();
      await bot.filter({ hasText: answer.reply.text.trim().slice(0, 8) }).waitFor();
      assert.equal((await bot.textContent()).trim(), answer.reply.text.trim());
      assert.equal(await shopper.locator('.sr-customer .sr-text').last().textContent(), ANGRY);
      // the acknowledgement fits an angry customer: no playful "～", no promise of "马上"
      assert.doesNotMatch(answer.reply.text, /～|马上/);

      const tk = (await agentApi(`/v1/tickets/${encodeURIComponent(ticketId)}`)).body;
      const intent = typeof tk.intent === 'object' ? tk.intent?.name : tk.intent;
      const sentiment = typeof tk.sentiment === 'object' ? tk.sentiment?.label : tk.sentiment;
      assert.equal(tk.priority, 'urgent', JSON.stringify(tk));
      assert.equal(intent, 'missing_or_wrong_item', JSON.stringify(tk.intent));
      assert.equal(sentiment, 'negative', JSON.stringify(tk.sentiment));
      assert.equal(tk.lang, lang);
      assert.deepEqual(tk.extracted?.order_numbers, [ORDER], JSON.stringify(tk.extracted));
    });

    test('in the console the ticket is urgent and shows the intent, sentiment, language and order number', async () => {
      await signIn(consolePage, AGENT_TOKEN);
      await consolePage.locator('#tab-queue', { hasText: S.ui.tabQueue }).waitFor();
      const item = consolePage.locator(`#queue li[data-id="${ticketId}"]`);
      await item.waitFor({ timeout: 10_000 });
      assert.equal(await item.locator('.pill.prio').textContent(), S.ui.urgent);
      assert.equal(await item.locator('.chip.intent').textContent(), S.ui.intent);
      assert.equal(await item.locator('.chip.sent').textContent(), S.ui.negative);
      await item.click();

      // the customer's words, as text
      const bubble = consolePage.locator('#messages .msg.customer .bubble', { hasText: ORDER });
      await bubble.waitFor();
      assert.equal(await bubble.textContent(), ANGRY);
      const customerSaid = await consolePage.locator('#messages .msg.customer .bubble').allTextContents();
      assert.deepEqual(customerSaid, [...S.greetings, ...S.questions.map((q) => q.text), ANGRY]);

      assert.equal(await detail(S.ui.d.priority).textContent(), S.ui.urgent);
      assert.equal(await detail(S.ui.d.intent).locator('[data-intent]').getAttribute('data-intent'), 'missing_or_wrong_item');
      assert.match(await detail(S.ui.d.intent).textContent(), new RegExp(`^${S.ui.intent} · \\d+%$`));
      assert.match(await detail(S.ui.d.sentiment).textContent(), new RegExp(`^${S.ui.negative} -?\\d\\.\\d\\d$`));
      assert.equal(await detail(S.ui.d.lang).textContent(), lang);
      assert.equal(await detail(S.ui.d.orders).textContent(), ORDER);
      await shot(consolePage, `story-${lang}-console-ticket.png`);
    });

    test('a reshipment case is drafted with the order number filled in', async () => {
      const p = panel();
      await p.locator('#case-form').waitFor();
      assert.equal(await p.locator('[data-testid="case-status"]').textContent(), S.ui.draft);
      assert.equal(await p.locator('#case-type').inputValue(), 'reshipment');
      assert.equal(await p.locator('#case-type option:checked').textContent(), S.ui.reshipment);
      assert.equal(await p.locator('#case-reason').inputValue(), 'missing_item');
      assert.equal(await p.locator('#case-reason option:checked').textContent(), S.ui.missingItem);
      assert.equal(await p.locator('#case-responsibility').inputValue(), 'warehouse');
      assert.equal(await p.locator('#case-order_number').inputValue(), ORDER);
      const stored = await agentApi(`/v1/tickets/${encodeURIComponent(ticketId)}/case`);
      assert.equal(stored.status, 200, JSON.stringify(stored.body));
      assert.equal(stored.body.status, 'draft');
      assert.equal(stored.body.order_number, ORDER);
      await shot(consolePage, `story-${lang}-console-case-draft.png`);
    });

    test('with the order number emptied, one submit flags every missing field at once', async () => {
      const p = panel();
      await p.locator('#case-order_number').fill('');
      const refused = consolePage.waitForResponse((r) => r.url().endsWith(`/v1/tickets/${ticketId}/case/submit`) && r.request().method() === 'POST');
      await p.locator('[data-testid="case-submit"]').click();
      const res = await refused;
      assert.equal(res.status(), 422);
      const fields = (await res.json()).error.fields;
      // the emptied order number, the items a reshipment needs and the photo asked for
      assert.deepEqual(Object.keys(fields).sort(), ['evidence', 'items', 'order_number'], JSON.stringify(fields));

      await p.locator('[data-field-error="order_number"]', { hasText: fields.order_number }).waitFor();
      for (const [f, msg] of Object.entries(fields)) {
        assert.equal(await p.locator(`[data-field-error="${f}"]`).textContent(), msg, f);
        assert.equal(await p.locator('#case-' + f).getAttribute('aria-invalid'), 'true', f);
      }
      for (const f of ['type', 'reason', 'responsibility', 'refund_amount', 'tracking_number', 'note']) {
        assert.equal(await p.locator(`[data-field-error="${f}"]`).textContent(), '', f);
        assert.equal(await p.locator('#case-' + f).getAttribute('aria-invalid'), null, f);
      }
      assert.equal(await p.locator('[data-testid="case-error"]').textContent(), S.ui.invalid);
      assert.equal(await consolePage.evaluate(() => document.activeElement.id), 'case-order_number', 'the first flagged field has the focus');
      assert.equal(await p.locator('[data-testid="case-status"]').textContent(), S.ui.draft);
      await shot(consolePage, `story-${lang}-console-case-flagged.png`);
    });

    test('filled in, the case is submitted', async () => {
      const p = panel();
      // the focus is on the order number: the agent types it back
      await consolePage.keyboard.type(ORDER);
      assert.equal(await p.locator('[data-field-error="order_number"]').textContent(), '', 'typing clears the field\'s error');
      await p.locator('#case-items').fill(S.items);
      await p.locator('#case-evidence').fill(S.evidence);
      const saved = consolePage.waitForRequest((r) => r.url().endsWith(`/v1/tickets/${ticketId}/case`) && r.method() === 'PUT');
      const submitted = consolePage.waitForResponse((r) => r.url().endsWith(`/v1/tickets/${ticketId}/case/submit`) && r.request().method() === 'POST');
      await p.locator('[data-testid="case-submit"]').click();
      const put = JSON.parse((await saved).postData());
      assert.equal(put.order_number, ORDER);
      assert.equal(put.items, S.items);
      assert.equal(put.evidence, S.evidence);
      const res = await submitted;
      assert.equal(res.status(), 200, await res.text());
      await p.locator('[data-testid="case-status"]', { hasText: S.ui.submitted }).waitFor();
      assert.equal(await p.locator('#case-order_number').isDisabled(), true);
      const stored = (await agentApi(`/v1/tickets/${encodeURIComponent(ticketId)}/case`)).body;
      assert.equal(stored.status, 'submitted');
      assert.equal(stored.order_number, ORDER);
      assert.equal(stored.items, S.items);
      assert.equal(stored.submitted_by, AGENT);
      if (CALLBACK_LOG) {
        const hit = await waitFor('the case callback', () => callbacks().find((l) => l.body && l.body.event === 'case' && l.body.ticket_id === ticketId));
        assert.equal(hit.body.order_number, ORDER);
      }
    });

    test('the agent replies; the shopper sees the reply', async () => {
      const box = consolePage.locator('#reply-text');
      await box.fill(S.reply);
      // reply first, resolve as a separate step
      await consolePage.locator('#resolve-after').uncheck();
      const replied = consolePage.waitForResponse((r) => r.url().endsWith(`/v1/tickets/${ticketId}/reply`));
      await consolePage.locator('#send').click();
      assert.ok((await replied).ok(), 'the reply is accepted');
      await consolePage.locator('#messages .msg.agent .bubble', { hasText: S.reply }).waitFor();
      await shopper.locator('.sr-agent .sr-text', { hasText: S.reply }).waitFor({ timeout: 10_000 });
      assert.equal(await shopper.locator('.sr-agent .sr-text').last().textContent(), S.reply);
      const tk = (await agentApi(`/v1/tickets/${encodeURIComponent(ticketId)}`)).body;
      assert.notEqual(tk.status, 'resolved');
    });

    test('the agent resolves; the shopper is asked for a rating', async () => {
      const resolved = consolePage.waitForResponse((r) => r.url().endsWith(`/v1/tickets/${ticketId}/resolve`));
      await consolePage.locator('#resolve').click();
      assert.ok((await resolved).ok(), 'the ticket is resolved');
      await consolePage.locator(`#queue li[data-id="${ticketId}"]`).waitFor({ state: 'detached' });
      assert.equal((await agentApi(`/v1/tickets/${encodeURIComponent(ticketId)}`)).body.status, 'resolved');

      const survey = shopper.locator('[data-testid="survey"]');
      await survey.waitFor({ timeout: 10_000 });
      const prompt = await survey.locator('.sr-survey-prompt').textContent();
      if (lang === 'zh') assert.match(prompt, /[\u4e00-\u9fff]/, prompt);
      else assert.match(prompt, /^How did we do\?/, prompt);
      if (CALLBACK_LOG) {
        const hit = await waitFor('the survey callback', () => callbacks().find((l) => l.body && l.body.event === 'survey' && l.body.ticket_id === ticketId));
        assert.equal(prompt, hit.body.prompt[lang]);
      }
    });

    test('the shopper gives 2 stars with a comment', async () => {
      const survey = shopper.locator('[data-testid="survey"]');
      const surveyId = await survey.getAttribute('data-survey-id');
      await survey.locator('[data-testid="survey-star-2"]').click();
      assert.equal(await survey.locator('.sr-star.sr-on').count(), 2);
      await survey.locator('[data-testid="survey-comment"]').fill(S.comment);
      const sent = shopper.waitForRequest((r) => r.url().endsWith(`/v1/widget/${SHOP}/surveys/${encodeURIComponent(surveyId)}`) && r.method() === 'POST');
      const answered = shopper.waitForResponse((r) => r.url().endsWith(`/v1/widget/${SHOP}/surveys/${encodeURIComponent(surveyId)}`));
      await survey.locator('[data-testid="survey-submit"]').click();
      const body = JSON.parse((await sent).postData());
      assert.equal(body.rating, 2);
      assert.equal(body.comment, S.comment);
      const res = await answered;
      assert.ok(res.ok(), `survey answered ${res.status()}: ${await res.text()}`);
      await survey.locator('[data-testid="survey-thanks"]').waitFor();
      assert.equal(await survey.locator('[data-testid="survey-thanks"]').textContent(), S.ui.thanks);
      await shot(shopper, `story-${lang}-widget-rated.png`);
    });

    test('the comment is in the inspection list, as text', async () => {
      await consolePage.locator('#tab-inspection').click();
      const item = consolePage.locator('#inspections li.insp-item[data-why="low_rating"]', { hasText: S.reply });
      await item.waitFor({ timeout: 10_000 });
      assert.equal(await item.count(), 1);
      assert.equal(await item.locator('[data-testid="insp-text"]').textContent(), S.reply);
      assert.equal(await item.locator('[data-testid="insp-why"]').textContent(), S.ui.lowRating);
      assert.equal(await item.locator('[data-testid="insp-rating"]').getAttribute('data-rating'), '2');
      assert.equal(await item.locator('[data-testid="insp-comment"]').textContent(), S.comment);
      assert.equal(await consolePage.locator('#inspections img').count(), 0, 'the comment\'s markup stays text');
      const listed = (await agentApi(`/v1/inspections?shop=${SHOP}&status=pending`)).body.inspections.find((x) => x.text === S.reply);
      assert.equal(listed.rating_comment, S.comment);
      await shot(consolePage, `story-${lang}-console-inspection.png`);
    });

    test('the scorecard counts the rating and explains the weighted score', async () => {
      await consolePage.locator('#tab-scorecard').click();
      const row = consolePage.locator(`#scorecard-body tr[data-agent="${AGENT}"]`);
      await row.waitFor({ timeout: 10_000 });
      const { api, mine } = await scorecardRow();
      assert.ok(mine, JSON.stringify(api));
      assert.equal(mine.ratings, ratingsBefore + 1, 'the 2 stars are one more rating');
      assert.equal(mine.score, weighted(api.weights, mine));

      await row.locator('[data-col="ratings"]', { hasText: String(mine.ratings) }).waitFor();
      assert.equal(await row.locator('[data-col="ratings"]').textContent(), String(mine.ratings));
      assert.equal(await row.locator('[data-testid="score-value"]').textContent(), String(mine.score));
      // the formula of the parts with data, and what was left out
      const w = api.weights;
      const p = (x) => Math.round(x * 1000) / 10 + '%';
      const parts = [['satisfaction', 'csat'], ['speed', 'speed'], ['resolution', 'resolution_rate'], ['compliance', 'compliance']]
        .filter(([k]) => typeof w[k] === 'number' && w[k] > 0);
      const kept = parts.filter(([, f]) => typeof mine[f] === 'number');
      const dropped = parts.filter(([, f]) => typeof mine[f] !== 'number');
      assert.equal(await row.locator('[data-col="score"]').getAttribute('title'),
        `(${kept.map(([k, f]) => `${w[k]} × ${p(mine[f])}`).join(' + ')}) ÷ ${kept.reduce((a, [k]) => a + w[k], 0)} = ${mine.score}`);
      const note = row.locator('[data-testid="score-note"]');
      if (dropped.length) assert.equal(await note.getAttribute('data-dropped'), dropped.map(([k]) => k).join(' '));
      else assert.equal(await note.count(), 0);
      assert.match(await consolePage.locator('[data-testid="scorecard-explain"]').textContent(), S.ui.explain);
      await shot(consolePage, `story-${lang}-console-scorecard.png`);
      assert.deepEqual(dialogs, [], 'no dialog was opened');
    });
  });
}
