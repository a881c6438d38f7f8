// UI text of the console in English and Chinese. Text is only ever set with textContent.
'use strict';
(function () {
  const STRINGS = {
    en: {
      skip: 'Skip to reply box',
      'signin.title': 'Agent console', 'signin.hint': 'Sign in with your agent token.',
      'signin.token': 'Agent token', 'signin.submit': 'Sign in', 'signin.bad': 'That token was not accepted.',
      'signin.net': 'The service cannot be reached.',
      shop: 'Shop', 'tab.queue': 'Queue', 'tab.stats': 'Stats', signout: 'Sign out',
      'live.on': 'Live', 'live.off': 'Offline', 'live.connecting': 'Connecting…',
      'queue.title': 'Open tickets', 'queue.order': 'Most urgent first', 'queue.empty': 'No open tickets. Nice work.',
      'ticket.none': 'Pick a ticket from the queue.', 'ticket.keys': 'j / k to move · Enter to open · ? for shortcuts',
      'ticket.customer': 'Customer', 'ticket.gone': 'This ticket is no longer available.',
      claim: 'Claim', claimed: 'Claimed', resolve: 'Resolve', close: 'Close',
      'reply.label': 'Reply (suggested draft)', 'reply.labelOwn': 'Your reply (draft rejected)',
      'reply.hint': 'Type / and a keyword for quick phrases · Ctrl+Enter sends',
      'reply.resolve': 'Resolve after sending', 'reply.reject': 'Reject draft', 'reply.restore': 'Restore draft',
      'reply.accept': 'Accept draft', 'reply.send': 'Edit and send', 'reply.empty': 'Write a reply first.',
      'reply.sent': 'Reply sent.', 'reply.nodraft': 'No draft', 'draft.accepted': 'Draft unchanged',
      'draft.edited': 'Draft edited', 'draft.rejected': 'Draft rejected', 'phrase.none': 'No matching phrase',
      'details.title': 'Details', 'd.status': 'Status', 'd.priority': 'Priority', 'd.sla': 'First response due',
      'd.reason': 'Escalation reason', 'd.intent': 'Intent', 'd.sentiment': 'Sentiment', 'd.customer': 'Customer',
      'd.claimed': 'Claimed by', 'd.created': 'Created', 'd.orders': 'Order numbers', 'd.tracking': 'Tracking numbers',
      'd.phones': 'Phones', 'd.amounts': 'Amounts', 'd.lang': 'Language', 'd.faq': 'Matched FAQ', 'd.channel': 'Conversation',
      'sla.left': '{t} left', 'sla.over': '{t} overdue',
      'prio.urgent': 'Urgent', 'prio.high': 'High', 'prio.normal': 'Normal',
      'status.open': 'Open', 'status.claimed': 'Claimed', 'status.resolved': 'Resolved',
      'sent.negative': 'Negative', 'sent.neutral': 'Neutral', 'sent.positive': 'Positive',
      'reason.complaint': 'Complaint', 'reason.human_requested': 'Asked for a human',
      'reason.needs_human_action': 'Needs human action', 'reason.out_of_scope': 'Out of scope',
      'reason.low_confidence': 'Low confidence', 'reason.negative_sentiment': 'Negative sentiment',
      'role.customer': 'Customer', 'role.bot': 'Bot', 'role.agent': 'Agent',
      'kind.answer': 'auto answer', 'kind.acknowledgement': 'acknowledgement', 'kind.reply': 'reply',
      'stats.title': 'Statistics', 'stats.range': 'Range', 'stats.refresh': 'Refresh',
      's.messages': 'Messages', 's.answered': 'Answered automatically', 's.escalated': 'Escalated',
      's.auto': 'Auto-answer rate', 's.frt': 'First response (p50 / p95)', 's.drafts': 'Drafts accepted / edited / rejected',
      's.acceptance': 'Draft acceptance', 's.breaches': 'SLA breaches', 's.open': 'Open tickets',
      'c.messages': 'Messages per hour', 'c.auto': 'Auto-answer rate', 'c.frt': 'First response time, p50',
      'c.drafts': 'What agents did with drafts', 'c.breaches': 'SLA breaches per hour', 'c.nodata': 'No data yet',
      'l.answered': 'answered', 'l.escalated': 'escalated', 'l.accepted': 'accepted', 'l.edited': 'edited', 'l.rejected': 'rejected',
      'help.title': 'Keyboard shortcuts', 'help.jk': 'Next / previous ticket', 'help.open': 'Open the selected ticket',
      'help.reply': 'Focus the reply box', 'help.claim': 'Claim the ticket', 'help.resolve': 'Resolve the ticket',
      'help.send': 'Send the reply', 'help.phrase': 'Quick phrase (↑ ↓ to choose, Enter or Tab to insert)',
      'help.esc': 'Leave the reply box / close', 'help.word': 'keyword', 'help.views': 'Stats / queue', 'help.help': 'This help',
      'toast.new': 'New ticket', 'error.generic': 'Something went wrong.', langName: '中文'
    },
    zh: {
      skip: '跳到回复框',
      'signin.title': '客服工作台', 'signin.hint': '请使用客服令牌登录。',
      'signin.token': '客服令牌', 'signin.submit': '登录', 'signin.bad': '令牌无效。',
      'signin.net': '无法连接到服务。',
      shop: '店铺', 'tab.queue': '工单队列', 'tab.stats': '数据统计', signout: '退出',
      'live.on': '实时', 'live.off': '离线', 'live.connecting': '连接中…',
      'queue.title': '待处理工单', 'queue.order': '按紧急程度排序', 'queue.empty': '暂无待处理工单，干得好！',
      'ticket.none': '请从左侧队列选择一个工单。', 'ticket.keys': 'j / k 切换 · Enter 打开 · ? 查看快捷键',
      'ticket.customer': '顾客', 'ticket.gone': '该工单已不可用。',
      claim: '认领', claimed: '已认领', resolve: '解决', close: '关闭',
      'reply.label': '回复（建议草稿）', 'reply.labelOwn': '您的回复（已拒绝草稿）',
      'reply.hint': '输入 / 加关键词插入快捷短语 · Ctrl+Enter 发送',
      'reply.resolve': '发送后标记为已解决', 'reply.reject': '拒绝草稿', 'reply.restore': '恢复草稿',
      'reply.accept': '采纳草稿', 'reply.send': '编辑并发送', 'reply.empty': '请先填写回复。',
      'reply.sent': '回复已发送。', 'reply.nodraft': '无草稿', 'draft.accepted': '草稿未修改',
      'draft.edited': '草稿已修改', 'draft.rejected': '草稿已拒绝', 'phrase.none': '没有匹配的短语',
      'details.title': '详情', 'd.status': '状态', 'd.priority': '优先级', 'd.sla': '首次响应截止',
      'd.reason': '转人工原因', 'd.intent': '意图', 'd.sentiment': '情绪', 'd.customer': '顾客',
      'd.claimed': '认领人', 'd.created': '创建时间', 'd.orders': '订单号', 'd.tracking': '快递单号',
      'd.phones': '电话', 'd.amounts': '金额', 'd.lang': '语言', 'd.faq': '匹配的 FAQ', 'd.channel': '会话',
      'sla.left': '剩余 {t}', 'sla.over': '已超时 {t}',
      'prio.urgent': '紧急', 'prio.high': '高', 'prio.normal': '普通',
      'status.open': '待处理', 'status.claimed': '已认领', 'status.resolved': '已解决',
      'sent.negative': '负面', 'sent.neutral': '中性', 'sent.positive': '正面',
      'reason.complaint': '投诉', 'reason.human_requested': '要求人工',
      'reason.needs_human_action': '需人工处理', 'reason.out_of_scope': '超出范围',
      'reason.low_confidence': '置信度低', 'reason.negative_sentiment': '负面情绪',
      'role.customer': '顾客', 'role.bot': '机器人', 'role.agent': '客服',
      'kind.answer': '自动回答', 'kind.acknowledgement': '安抚回复', 'kind.reply': '回复',
      'stats.title': '数据统计', 'stats.range': '时间范围', 'stats.refresh': '刷新',
      's.messages': '消息数', 's.answered': '自动回答', 's.escalated': '转人工',
      's.auto': '自动回答率', 's.frt': '首次响应（p50 / p95）', 's.drafts': '草稿 采纳 / 修改 / 拒绝',
      's.acceptance': '草稿采纳率', 's.breaches': 'SLA 超时', 's.open': '待处理工单',
      'c.messages': '每小时消息数', 'c.auto': '自动回答率', 'c.frt': '首次响应时间 p50',
      'c.drafts': '客服对草稿的处理', 'c.breaches': '每小时 SLA 超时', 'c.nodata': '暂无数据',
      'l.answered': '自动回答', 'l.escalated': '转人工', 'l.accepted': '采纳', 'l.edited': '修改', 'l.rejected': '拒绝',
      'help.title': '快捷键', 'help.jk': '下一个 / 上一个工单', 'help.open': '打开选中的工单',
      'help.reply': '聚焦回复框', 'help.claim': '认领工单', 'help.resolve': '解决工单',
      'help.send': '发送回复', 'help.phrase': '快捷短语（↑ ↓ 选择，Enter 或 Tab 插入）',
      'help.esc': '离开回复框 / 关闭', 'help.word': '关键词', 'help.views': '统计 / 队列', 'help.help': '本帮助',
      'toast.new': '新工单', 'error.generic': '出错了。', langName: 'English'
    }
  };

  function initialLang() {
    const saved = localStorage.getItem('smartreply.lang');
    if (saved === 'zh' || saved === 'en') return saved;
    return (navigator.language || 'en').toLowerCase().startsWith('zh') ? 'zh' : 'en';
  }

  const i18n = {
    lang: initialLang(),
    t(key, vars) {
      let s = (STRINGS[this.lang] && STRINGS[this.lang][key]) || STRINGS.en[key] || key;
      if (vars) for (const [k, v] of Object.entries(vars)) s = s.split('{' + k + '}').join(String(v));
      return s;
    },
    has(key) { return key in STRINGS.en; },
    apply(root) {
      document.documentElement.lang = this.lang === 'zh' ? 'zh-CN' : 'en';
      for (const el of (root || document).querySelectorAll('[data-i18n]')) el.textContent = this.t(el.dataset.i18n);
      for (const el of (root || document).querySelectorAll('[data-lang-toggle]')) el.textContent = this.t('langName');
    },
    set(lang) {
      this.lang = lang;
      localStorage.setItem('smartreply.lang', lang);
      this.apply();
    }
  };
  window.SmartreplyI18n = i18n;
})();
