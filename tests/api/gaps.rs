//! The knowledge base grows from the queue (issue 26, `docs/knowledge-loop.md`): a period of
//! conversations about things the knowledge base lacks, in Chinese and English, answered by
//! agents; gap mining finds each topic by meaning and proposes an entry from the agents'
//! replies; the replay shows what it would change; approval writes it into the shop's own
//! copy of the knowledge base and reloads the shop, and the same kind of message is answered.
//! A draft edited the same way five times proposes the template change.
//!
//! Each test works on a copy of `knowledge-base/demo` in a temporary folder: the shared
//! knowledge base (and every evaluation figure) never changes.

use crate::helpers::*;
use serde_json::{Value, json};
use smartreply::config::{AgentSettings, Role, Secret};
use smartreply::engine::{Engine, LoadOptions, ShopSource};
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

/// A support lead of the demo shop.
const LEAD: &str = "lena-token-demo-lead";

/// The service with the demo shop served from a copy of its knowledge base that the test owns.
struct OwnShop {
    app: TestApp,
    kb: tempfile::TempDir,
}

async fn spawn_with_own_knowledge_base() -> OwnShop {
    let kb = tempfile::tempdir().unwrap();
    for item in std::fs::read_dir("knowledge-base/demo").unwrap() {
        let item = item.unwrap();
        std::fs::copy(item.path(), kb.path().join(item.file_name())).unwrap();
    }
    let dir = kb.path().to_path_buf();
    let engine = tokio::task::spawn_blocking(move || {
        let sources = [ShopSource { id: "demo".into(), knowledge_base: dir }];
        // Its own cache file: the shared engine's is written by other tests at the same time.
        let options =
            LoadOptions { cache_dir: Some(Path::new(env!("CARGO_TARGET_TMPDIR")).join("embeddings-gaps")), ..LoadOptions::default() };
        Arc::new(Engine::load_with_options(&sources, Path::new("models"), &options).expect("engine loads"))
    })
    .await
    .unwrap();
    let db = Database::fresh().await;
    let mut settings = settings(&db, &Options::default());
    settings.shops.retain(|s| s.id == "demo");
    settings.shops[0].knowledge_base = kb.path().to_path_buf();
    settings.agents.push(AgentSettings {
        name: "lena".into(),
        token: Secret::new(LEAD),
        shops: vec!["demo".into()],
        roles: vec![Role::Agent, Role::Lead],
    });
    OwnShop { app: spawn_app_on(db, settings, engine).await, kb }
}

/// One topic the demo knowledge base has no answer for: customers' messages and what agents
/// answered, per language (written for this test).
struct Seeded {
    name: &'static str,
    zh: [&'static str; 4],
    en: [&'static str; 4],
    replies_zh: [&'static str; 3],
    replies_en: [&'static str; 3],
    /// Asked anew (still a gap while its own entry is not approved).
    new_zh: &'static str,
}

const STORE: Seeded = Seeded {
    name: "physical store",
    zh: ["你们有实体店吗", "线下有门店可以去看看吗", "请问你们的实体店在哪里", "有没有线下店可以直接去买"],
    en: [
        "do you have a physical store",
        "is there a shop I can visit in person",
        "where is your offline store",
        "can I buy from you in a real shop",
    ],
    replies_zh: [
        "亲，我们是纯线上的旗舰店，目前没有线下实体门店，所有商品都只在本店线上销售哦～",
        "亲，我们是纯线上的旗舰店，目前没有线下实体门店，所有商品都只在本店线上销售哦～",
        "亲，本店暂时没有实体店呢，线上下单就可以啦～",
    ],
    replies_en: [
        "We're an online-only flagship store with no physical shops; everything we sell is available right here online.",
        "We're an online-only flagship store with no physical shops; everything we sell is available right here online.",
        "Sorry, no physical store for now, but you can order everything online.",
    ],
    new_zh: "请问你们有实体店吗？",
};

const POINTS: Seeded = Seeded {
    name: "member points",
    zh: ["会员积分怎么用", "积分可以抵现金吗", "积分可以用来干嘛", "购物积分怎么抵扣"],
    en: ["how do I use my member points", "can points be used as cash", "what can I redeem my points for", "how do loyalty points work"],
    replies_zh: [
        "亲，每消费 ¥1 积 1 分，结算时 100 积分可抵 ¥1，在“我的-积分”里就能看到哦～",
        "亲，每消费 ¥1 积 1 分，结算时 100 积分可抵 ¥1，在“我的-积分”里就能看到哦～",
        "积分结算时可以直接抵扣的亲。",
    ],
    replies_en: [
        "You earn 1 point per ¥1 spent, and 100 points take ¥1 off at checkout; see them under Me > Points.",
        "You earn 1 point per ¥1 spent, and 100 points take ¥1 off at checkout; see them under Me > Points.",
        "Points can be used at checkout.",
    ],
    new_zh: "积分可以怎么使用",
};

const FAN_GROUP: Seeded = Seeded {
    name: "fan group",
    zh: ["你们有微信粉丝群吗", "怎么进你们的粉丝群", "可以拉我进福利群吗", "有没有粉丝福利群可以加"],
    en: [
        "do you have a fan group",
        "how can I join your community group",
        "is there a wechat group for fans",
        "can you add me to your customer group",
    ],
    replies_zh: [
        "亲，关注店铺后在首页点“加入粉丝群”就可以进群啦，群里每周都有专属福利～",
        "亲，关注店铺后在首页点“加入粉丝群”就可以进群啦，群里每周都有专属福利～",
        "亲，首页有粉丝群入口哦。",
    ],
    replies_en: [
        "Follow the store and tap \"Join fan group\" on its home page; members get weekly perks there.",
        "Follow the store and tap \"Join fan group\" on its home page; members get weekly perks there.",
        "There's a fan group link on our home page.",
    ],
    new_zh: "粉丝群怎么加入",
};

async fn reply(app: &TestApp, ticket: &str, text: &str, draft: &str) {
    let body = json!({"text": text, "draft": draft, "resolve": true});
    json_of(app.agent_post(ALICE, &format!("/v1/tickets/{ticket}/reply"), body).await, 200).await;
}

/// Sends the topic's messages (each its own conversation) and answers each ticket as an agent
/// would; returns the message ids.
async fn seed(app: &TestApp, topic: &Seeded, tag: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for (lang, texts, replies) in [("zh", &topic.zh, &topic.replies_zh), ("en", &topic.en, &topic.replies_en)] {
        for (i, text) in texts.iter().enumerate() {
            let id = format!("{tag}-{lang}-{i}");
            let answer = app.send(&id, &format!("c-{id}"), text).await;
            // A phrasing the knowledge base happens to answer is no gap (and not expected in one).
            let Some(ticket) = answer["ticket_id"].as_str() else { continue };
            // Three of the four are answered; agents write these from scratch.
            if let Some(reply_text) = replies.get(i) {
                reply(app, ticket, reply_text, "rejected").await;
            }
            ids.push(id);
        }
    }
    ids
}

async fn gaps(app: &TestApp) -> Value {
    json_of(app.agent_get(LEAD, "/v1/gaps?shop=demo&days=30").await, 200).await
}

/// The topics holding any of `ids`.
fn topics_of<'a>(report: &'a Value, ids: &[String]) -> Vec<&'a Value> {
    report["topics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["message_ids"].as_array().unwrap().iter().any(|m| ids.iter().any(|id| m == id)))
        .collect()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().unwrap().iter().map(|s| s.as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn gaps_are_found_by_meaning_proposed_from_agents_replies_replayed_approved_and_then_answered() {
    let OwnShop { app, kb } = spawn_with_own_knowledge_base().await;
    let seeded = [&STORE, &POINTS, &FAN_GROUP];
    let mut seeded_ids = Vec::new();
    for (n, topic) in seeded.iter().enumerate() {
        seeded_ids.push(seed(&app, topic, &format!("t{n}")).await);
    }
    // A question the knowledge base answers is no gap.
    assert_eq!(app.send("known-1", "c-known-1", "满多少包邮？").await["decision"], "answered");

    let report = gaps(&app).await;
    let escalated: usize = seeded_ids.iter().map(Vec::len).sum();
    assert!(escalated >= 21, "the seeded questions are gaps of the demo knowledge base: {seeded_ids:?}");
    // Escalated for want of an answer (a phrasing may read as upset and be handed over for that).
    assert!(report["unanswered"].as_u64().unwrap() as usize + 2 >= escalated, "{report}");
    for (topic, ids) in seeded.iter().zip(&seeded_ids) {
        let found = topics_of(&report, ids);
        assert!(!found.is_empty(), "{} is found: {report:#}", topic.name);
        let covered: HashSet<String> = found.iter().flat_map(|t| strings(&t["message_ids"])).collect();
        // Each topic holds this gap's messages only, and together they hold nearly all of them.
        assert!(covered.iter().all(|m| ids.contains(m)), "{} is not mixed with another gap: {covered:?}", topic.name);
        // Customers' own wordings of one question may form more than one topic (the threshold
        // keeps different questions apart first): what is grouped is this gap's alone.
        assert!(covered.len() >= 2, "{}: {} of {} messages grouped: {report:#}", topic.name, covered.len(), ids.len());
        for t in &found {
            let entry = &t["proposal"]["entry"];
            let (zh, en) = (entry["answer_zh"].as_str().unwrap(), entry["answer_en"].as_str().unwrap());
            assert!(zh.is_empty() || topic.replies_zh.contains(&zh), "{}: the answer is an agent's reply, not written: {zh}", topic.name);
            assert!(en.is_empty() || topic.replies_en.contains(&en), "{}: the answer is an agent's reply, not written: {en}", topic.name);
            assert!(!zh.is_empty() || !en.is_empty(), "{}: an answer is proposed: {t:#}", topic.name);
            assert!(t["examples"].as_array().unwrap().len() >= 2);
            assert!(t["size"].as_u64().unwrap() >= 2);
        }
    }

    // The owner takes the physical-store proposal(s), completes what one language lacks from
    // the other topic of the same gap, and replays it before it goes live.
    let found = topics_of(&report, &seeded_ids[0]);
    let mut entry = found[0]["proposal"]["entry"].clone();
    for t in &found[1..] {
        let other = &t["proposal"]["entry"];
        for field in ["questions_zh", "questions_en"] {
            let mut list = strings(&entry[field]);
            list.extend(strings(&other[field]));
            entry[field] = json!(list);
        }
        for field in ["answer_zh", "answer_en"] {
            if entry[field] == "" {
                entry[field] = other[field].clone();
            }
        }
    }
    // What no topic of this gap had, the lead writes (the proposal lists it under `needs`).
    for (field, text) in [("questions_zh", json!(STORE.zh[..2])), ("questions_en", json!(STORE.en[..2]))] {
        if entry[field].as_array().unwrap().is_empty() {
            entry[field] = text;
        }
    }
    for (field, text) in [("answer_zh", STORE.replies_zh[0]), ("answer_en", STORE.replies_en[0])] {
        if entry[field] == "" {
            entry[field] = json!(text);
        }
    }
    entry["id"] = json!("no-physical-store");
    // The router may file these under an always-escalated intent: the proposal says so, and
    // the lead files the entry under product questions.
    if strings(&found[0]["proposal"]["needs"]).contains(&"intents".to_string()) {
        entry["intents"] = json!(["product_info"]);
    }
    let message_ids: Vec<String> = found.iter().flat_map(|t| strings(&t["message_ids"])).collect();
    let replay = json_of(app.agent_post(LEAD, "/v1/gaps/replay", json!({"shop": "demo", "entry": entry})).await, 200).await;
    assert!(
        replay["gained_count"].as_u64().unwrap() as usize >= message_ids.len(),
        "the topic's messages would have been answered: {replay:#}"
    );
    let gained: Vec<String> = replay["gained"].as_array().unwrap().iter().map(|g| g["message_id"].as_str().unwrap().into()).collect();
    assert!(gained.iter().all(|m| seeded_ids[0].contains(m)), "only this gap's messages are gained: {replay:#}");
    assert_eq!(replay["lost_count"], 0, "no earlier answer is lost: {replay:#}");
    assert_eq!(replay["changed_count"], 0, "no earlier answer changes: {replay:#}");
    assert!(replay["answered_before"].as_u64().unwrap() >= 1, "the known question stays answered: {replay:#}");
    // Nothing went live yet.
    let first_zh = entry["questions_zh"][0].as_str().unwrap().to_string();
    assert_eq!(app.send("before-1", "c-before-1", &first_zh).await["decision"], "escalated");

    // An entry the knowledge base check refuses is refused whole, with the problem.
    let mut broken = entry.clone();
    broken["answer_en"] = json!("");
    let refused = json_of(app.agent_post(LEAD, "/v1/gaps/approve", json!({"shop": "demo", "entry": broken})).await, 422).await;
    assert!(refused["error"]["message"].as_str().unwrap().contains("answer_en is empty"), "{refused}");
    // Only a lead changes the knowledge base.
    json_of(app.agent_post(ALICE, "/v1/gaps/approve", json!({"shop": "demo", "entry": entry})).await, 403).await;
    json_of(app.agent_get(ALICE, "/v1/gaps?shop=demo").await, 403).await;

    let approved =
        json_of(app.agent_post(LEAD, "/v1/gaps/approve", json!({"shop": "demo", "entry": entry, "message_ids": message_ids})).await, 200)
            .await;
    assert_eq!(approved["target"], "no-physical-store");
    let faq = std::fs::read_to_string(kb.path().join("faq.toml")).unwrap();
    assert!(faq.contains("# Added from the queue by gap mining"), "the entry says where it came from");
    assert!(faq.contains("id = \"no-physical-store\""));
    assert!(smartreply::knowledge::check_dir(kb.path()).is_ok(), "kb check still passes");

    // Sent anew, without a restart: answered automatically and correctly, in both languages.
    // Customers asking the same way again, in new conversations. (A wording far from every
    // phrasing may still read as out of scope to the intent classifier: see the report.)
    let asked_zh = entry["questions_zh"][0].as_str().unwrap().to_string();
    let zh = app.send("after-zh", "c-after-zh", &asked_zh).await;
    assert_eq!(zh["decision"], "answered", "{zh}");
    assert_eq!(zh["faq_id"], "no-physical-store");
    assert_eq!(zh["reply"]["text"], entry["answer_zh"]);
    let asked_en = entry["questions_en"][0].as_str().unwrap().to_string();
    let en = app.send("after-en", "c-after-en", &asked_en).await;
    assert_eq!(en["decision"], "answered", "{en}");
    assert_eq!(en["reply"]["text"], entry["answer_en"]);
    // The other gaps are still gaps, and the approved one is not proposed again.
    assert_eq!(app.send("after-points", "c-after-points", POINTS.new_zh).await["decision"], "escalated");
    let again = gaps(&app).await;
    assert!(topics_of(&again, &seeded_ids[0]).is_empty(), "{again:#}");
    assert!(!topics_of(&again, &seeded_ids[1]).is_empty());

    // Rejecting a proposal keeps its messages out of later reports.
    let fan = topics_of(&again, &seeded_ids[2]);
    for t in &fan {
        let body = json!({"shop": "demo", "id": t["id"], "evidence": t["message_ids"]});
        json_of(app.agent_post(LEAD, "/v1/gaps/reject", body).await, 200).await;
    }
    assert!(topics_of(&gaps(&app).await, &seeded_ids[2]).is_empty());
    app.finish().await;
}

/// The damaged-item template's draft with one sentence agents add by hand.
const ADDED: &str = "另外我们会补偿您一张 ¥10 无门槛优惠券。";

#[tokio::test]
async fn a_draft_template_edited_the_same_way_five_times_is_proposed_and_once_approved_drafts_carry_the_change() {
    let OwnShop { app, kb } = spawn_with_own_knowledge_base().await;
    let damaged = [
        "收到的精华瓶子裂了",
        "面霜盖子是坏的",
        "收到的乳液漏液了",
        "包装里的眼霜压坏了",
        "收到的洗面奶瓶身有裂缝",
        "爽肤水的喷头坏了",
        "收到的面膜袋子破了",
        "护手霜的管子裂开了",
        "精油瓶盖碎了",
        "收到的身体乳泵头坏了",
    ];
    // Tickets grouped by what drafted them (intent and sentiment pick the template).
    let mut by_template: std::collections::BTreeMap<(String, String), Vec<(String, String)>> = Default::default();
    for (i, text) in damaged.iter().enumerate() {
        let answer = app.send(&format!("d-{i}"), &format!("c-d-{i}"), text).await;
        let Some(ticket) = answer["ticket_id"].as_str() else { continue };
        let t = json_of(app.agent_get(ALICE, &format!("/v1/tickets/{ticket}")).await, 200).await;
        let key = (t["intent"].as_str().unwrap().to_string(), t["sentiment"].as_str().unwrap().to_string());
        by_template.entry(key).or_default().push((ticket.to_string(), t["draft"]["text"].as_str().unwrap().to_string()));
    }
    let (_, group) = by_template.iter().max_by_key(|(_, g)| g.len()).unwrap();
    assert!(group.len() >= 6, "six drafts of one template: {by_template:?}");
    let report = gaps(&app).await;
    assert!(report["templates"].as_array().unwrap().is_empty());
    for (ticket, draft) in &group[..4] {
        reply(&app, ticket, &format!("{draft}{ADDED}"), "edited").await;
    }
    assert!(gaps(&app).await["templates"].as_array().unwrap().is_empty(), "four times is not yet a pattern");
    reply(&app, &group[4].0, &format!("{}{ADDED}", group[4].1), "edited").await;
    let report = gaps(&app).await;
    let proposals = report["templates"].as_array().unwrap();
    assert_eq!(proposals.len(), 1, "{report:#}");
    let p = &proposals[0];
    assert_eq!(p["edits"], 5);
    assert_eq!(p["lang"], "zh");
    assert_eq!(p["added"], ADDED);
    assert_eq!(p["removed"], "");
    assert_eq!(p["proposed"].as_str().unwrap(), format!("{}{ADDED}", p["current"].as_str().unwrap()));
    assert_eq!(p["examples"].as_array().unwrap().len(), 3);
    let tickets: Vec<String> = group.iter().map(|(t, _)| t.clone()).collect();
    assert_eq!(strings(&p["ticket_ids"]), tickets[..5]);

    let body = json!({
        "shop": "demo", "intent": p["intent"], "sentiment": p["sentiment"], "lang": "zh",
        "current": p["current"], "proposed": p["proposed"], "ticket_ids": p["ticket_ids"],
    });
    json_of(app.agent_post(LEAD, "/v1/gaps/templates/approve", body.clone()).await, 200).await;
    let file = std::fs::read_to_string(kb.path().join("drafts.toml")).unwrap();
    assert!(file.contains("# Changed from the queue: agents made this edit to 5 draft(s)"));
    assert!(smartreply::knowledge::check_dir(kb.path()).is_ok());
    // Approving the same change again finds the old text gone.
    json_of(app.agent_post(LEAD, "/v1/gaps/templates/approve", body).await, 409).await;

    // The sixth message of that template, sent anew after the change, is drafted with it.
    let (sixth, _) = &group[5];
    let before = json_of(app.agent_get(ALICE, &format!("/v1/tickets/{sixth}")).await, 200).await;
    let text = before["messages"][0]["text"].as_str().unwrap().to_string();
    let answer = app.send("d-new", "c-d-new", &text).await;
    let t = json_of(app.agent_get(ALICE, &format!("/v1/tickets/{}", answer["ticket_id"].as_str().unwrap())).await, 200).await;
    assert!(t["draft"]["text"].as_str().unwrap().ends_with(ADDED), "{t}");
    app.finish().await;
}

#[tokio::test]
async fn stats_report_automatic_resolution_hand_offs_reopens_and_satisfaction() {
    let app = spawn_app().await;
    // Answered and left alone: resolved by the bot.
    assert_eq!(app.send("o-1", "c-o-1", "满多少包邮？").await["decision"], "answered");
    // Answered, then voted down: not resolved by the bot.
    assert_eq!(app.send("o-2", "c-o-2", "怎么开发票").await["decision"], "answered");
    let history = json_of(app.agent_get(ALICE, "/v1/tickets?shop=demo&status=open").await, 200).await;
    assert!(history["tickets"].as_array().unwrap().is_empty());
    let bot_message = {
        use sqlx::Connection;
        sqlx::any::install_default_drivers();
        let mut conn = sqlx::AnyConnection::connect(&app.db.url).await.unwrap();
        sqlx::query_scalar::<_, String>("SELECT message_id FROM messages WHERE conversation_id = 'c-o-2' AND role = 'bot'")
            .fetch_one(&mut conn)
            .await
            .unwrap()
    };
    let ts = now();
    let body = json!({"helpful": false}).to_string();
    let vote = app
        .client
        .post(format!("{}/v1/shops/demo/answers/{bot_message}/feedback", app.address))
        .header("content-type", "application/json")
        .header("X-Smartreply-Timestamp", ts.to_string())
        .header("X-Smartreply-Signature", smartreply::ingest::signature::sign(DEMO_SECRET, ts, body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(vote.status(), 200);
    // Handed over, resolved, and the customer writes again: a reopen.
    let escalated = app.send("o-3", "c-o-3", "你们有实体店吗").await;
    let ticket = escalated["ticket_id"].as_str().unwrap();
    reply(&app, ticket, "亲，我们没有实体店哦。", "rejected").await;
    assert_eq!(app.send("o-4", "c-o-3", "还是不满意，我要投诉你们").await["decision"], "escalated");

    let stats = json_of(app.agent_get(ALICE, "/v1/stats?shop=demo").await, 200).await;
    let o = &stats["outcomes"];
    assert_eq!(o["bot_conversations"], 2, "{o:#}");
    assert_eq!(o["resolved_automatically"], 1);
    assert_eq!(o["automatic_resolution_rate"], 0.5);
    assert_eq!(o["resolved_tickets"], 1);
    assert_eq!(o["reopened_tickets"], 1);
    assert_eq!(o["reopen_rate"], 1.0);
    let handoffs: f64 = o["handoff_rate_by_reason"].as_object().unwrap().values().map(|v| v.as_f64().unwrap()).sum();
    let messages = stats["messages"].as_f64().unwrap();
    assert!((handoffs - stats["escalated"].as_f64().unwrap() / messages).abs() < 1e-9, "{stats:#}");
    assert!(!o["handoff_rate_by_reason"].as_object().unwrap().is_empty(), "{o:#}");
    assert_eq!(o["satisfaction"]["bot_votes"], 1);
    assert_eq!(o["satisfaction"]["bot_helpful_rate"], 0.0);
    // The contract's fields are still there.
    assert!(stats["auto_answer_rate"].is_number() && stats["drafts"].is_object());
    app.finish().await;
}
